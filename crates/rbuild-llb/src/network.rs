//! The network and security modes a RUN asks for (`--network`, `--security`).

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
