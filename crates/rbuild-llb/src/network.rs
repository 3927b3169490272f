//! The network and security modes a RUN asks for (`--network`, `--security`),
//! and the names a build adds to its steps' /etc/hosts (`--add-host`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The network a step gets: a namespace of its own with outbound access by
/// default, as docker's bridge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A network namespace of its own: outbound connections, not the
    /// host's loopback or interfaces.
    #[default]
    Default,
    /// A network namespace holding only `lo`, up.
    None,
    /// The host's network (no network namespace), which needs the
    /// `network.host` entitlement.
    Host,
}

impl NetworkMode {
    /// The spelling of `--network`, which is also the mode's stable name in
    /// cache keys.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Default => "default",
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        }
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NetworkMode {
    type Err = String;

    /// `default`, `none` or `host`, as `--network` spells them.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "default" | "" => Ok(NetworkMode::Default),
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            other => Err(format!("unknown network mode {other:?}: expected default, none or host")),
        }
    }
}

/// `RUN --security=`: the sandbox every step gets, or BuildKit's insecure
/// mode (all capabilities, no masked paths), which needs an entitlement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityMode {
    /// Docker's default capabilities, masked and read-only paths.
    #[default]
    Sandbox,
    /// `--security=insecure`.
    Insecure,
}

impl SecurityMode {
    /// The flag's spelling, also the mode's stable name in cache keys.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityMode::Sandbox => "sandbox",
            SecurityMode::Insecure => "insecure",
        }
    }
}

impl fmt::Display for SecurityMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SecurityMode {
    type Err = String;

    /// `sandbox` or `insecure`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "sandbox" => Ok(SecurityMode::Sandbox),
            "insecure" => Ok(SecurityMode::Insecure),
            other => {
                Err(format!("unsupported security mode {other:?}: expected sandbox or insecure"))
            }
        }
    }
}

/// What a build lets its steps do beyond the sandbox (`--allow`), as
/// buildx's entitlements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entitlement {
    /// `network.host`: `RUN --network=host`.
    NetworkHost,
    /// `security.insecure`: `RUN --security=insecure`.
    SecurityInsecure,
}

impl Entitlement {
    /// The spelling of `--allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Entitlement::NetworkHost => "network.host",
            Entitlement::SecurityInsecure => "security.insecure",
        }
    }
}

impl fmt::Display for Entitlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Entitlement {
    /// The set `--allow` values name; each may be a comma-separated list,
    /// as buildx takes it. The error names the flag.
    pub fn parse_flags(
        texts: &[String],
    ) -> Result<std::collections::BTreeSet<Entitlement>, String> {
        texts
            .iter()
            .flat_map(|t| t.split(','))
            .filter(|n| !n.is_empty())
            .map(|n| n.parse().map_err(|e: String| format!("--allow: {e}")))
            .collect()
    }
}

impl std::str::FromStr for Entitlement {
    type Err = String;

    /// `network.host` or `security.insecure`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "network.host" => Ok(Entitlement::NetworkHost),
            "security.insecure" => Ok(Entitlement::SecurityInsecure),
            other => Err(format!(
                "unknown entitlement {other:?}: expected network.host or security.insecure"
            )),
        }
    }
}

/// One `--add-host`: a name the steps' /etc/hosts maps to an address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExtraHost {
    /// The name.
    pub host: String,
    /// The address as given (checked, not rewritten, as docker keeps it).
    pub ip: String,
}

impl ExtraHost {
    /// Reads `HOST:IP` or `HOST=IP` (an IPv6 address may be in brackets),
    /// as the docker CLI does. `host-gateway` is refused: a step has no
    /// route to this machine to name.
    pub fn parse(text: &str) -> Result<ExtraHost, String> {
        let (host, ip) = text
            .split_once('=')
            .or_else(|| text.split_once(':'))
            .filter(|(host, _)| !host.is_empty() && !host.contains(':'))
            .ok_or_else(|| format!("bad format for add-host: {text:?}: expected HOST:IP"))?;
        if ip == "host-gateway" {
            return Err(format!(
                "add-host {text:?}: host-gateway is not supported: a step has no route to this \
                 machine (give an address)"
            ));
        }
        let bare = ip.strip_prefix('[').and_then(|i| i.strip_suffix(']')).unwrap_or(ip);
        if bare.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("invalid IP address in add-host: {bare:?}"));
        }
        Ok(ExtraHost { host: host.to_owned(), ip: bare.to_owned() })
    }
}

/// The /etc/hosts of a step, as BuildKit writes it: localhost and the
/// step's hostname, then each extra host, in order. Never the host's own.
pub fn hosts_file(hostname: &str, extra: &[ExtraHost]) -> String {
    let mut text =
        format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    for h in extra {
        text.push_str(&format!("{}\t{}\n", h.ip, h.host));
    }
    text
}

#[cfg(test)]
mod hosts_tests {
    use super::*;

    #[test]
    fn add_host_reads_as_the_docker_cli_and_the_file_is_buildkits() {
        let h = |host: &str, ip: &str| ExtraHost { host: host.into(), ip: ip.into() };
        assert_eq!(ExtraHost::parse("db:10.0.0.5"), Ok(h("db", "10.0.0.5")));
        assert_eq!(ExtraHost::parse("db=10.0.0.5"), Ok(h("db", "10.0.0.5")));
        assert_eq!(ExtraHost::parse("v6:::1"), Ok(h("v6", "::1")));
        assert_eq!(ExtraHost::parse("v6=[fe80::1]"), Ok(h("v6", "fe80::1")));
        for bad in ["db", ":1.2.3.4", "db:nope", "db:1.2.3", "a:b:c"] {
            assert!(ExtraHost::parse(bad).is_err(), "{bad}");
        }
        assert!(ExtraHost::parse("gw:host-gateway").unwrap_err().contains("host-gateway"));
        assert_eq!(
            hosts_file("buildkitsandbox", &[h("foo.example", "10.1.2.3")]),
            "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             10.1.2.3\tfoo.example\n"
        );
    }
}
