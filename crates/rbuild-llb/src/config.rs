//! The runtime config of an image: the `config` object of an OCI image
//! config with Docker's extension fields, in their JSON spelling — what a
//! stage accumulates, what a base image brings and what the built image
//! gets, one type, with fields it does not know kept on a round trip.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The runtime configuration of an image (the `config` object of an OCI or
/// Docker image config), so a base image's settings can be read from the
/// store and the built image's written back with the same field names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    /// `KEY=value` pairs: the base image's, then every ENV, in order.
    #[serde(
        rename = "Env",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub env: Vec<String>,
    /// The default command (CMD), already wrapped in the shell for shell form.
    #[serde(
        rename = "Cmd",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub cmd: Vec<String>,
    /// The entrypoint (ENTRYPOINT), already wrapped in the shell for shell form.
    #[serde(
        rename = "Entrypoint",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub entrypoint: Vec<String>,
    /// The working directory (WORKDIR), absolute; empty means `/`.
    #[serde(rename = "WorkingDir", skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// The user (USER) as written: name, uid, `user:group`; empty is root.
    #[serde(rename = "User", skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Exposed ports as `port/proto` (EXPOSE), each mapped to an empty object.
    #[serde(
        rename = "ExposedPorts",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub exposed_ports: BTreeMap<String, Empty>,
    /// Volume paths (VOLUME), each mapped to an empty object.
    #[serde(
        rename = "Volumes",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub volumes: BTreeMap<String, Empty>,
    /// Labels (LABEL), inherited from the base image.
    #[serde(
        rename = "Labels",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub labels: BTreeMap<String, String>,
    /// The signal that stops a container (STOPSIGNAL).
    #[serde(rename = "StopSignal", skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// The health check (HEALTHCHECK), in Docker's shape.
    #[serde(rename = "Healthcheck", skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// Set by CMD and ENTRYPOINT, as Docker and BuildKit do, for Windows
    /// runtimes that read it; kept so configs round-trip.
    #[serde(rename = "ArgsEscaped", skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    /// ONBUILD triggers for images built on this one, as written after `ONBUILD`.
    #[serde(
        rename = "OnBuild",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub on_build: Vec<String>,
    /// The shell for shell-form commands (SHELL); empty means `/bin/sh -c`.
    #[serde(
        rename = "Shell",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub shell: Vec<String>,
    /// Fields this type does not know (`Hostname`, `Domainname`…), kept as
    /// they came so a base image's config is written back whole.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The empty JSON object Docker uses as the value of port and volume sets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// A container health check in Docker's JSON shape (durations in
/// nanoseconds, zero meaning "the default"), as `docker inspect` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", arg…]` or `["CMD-SHELL", command]`.
    #[serde(
        rename = "Test",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub test: Vec<String>,
    /// Time between checks, in nanoseconds.
    #[serde(rename = "Interval", skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Time a check may take, in nanoseconds.
    #[serde(rename = "Timeout", skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Start-up time during which failures do not count, in nanoseconds.
    #[serde(rename = "StartPeriod", skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Time between checks during the start period, in nanoseconds.
    #[serde(rename = "StartInterval", skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures before the container is unhealthy.
    #[serde(rename = "Retries", skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Reads JSON `null` as the default, as Go's decoder leaves a nil slice or map.
fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl ContainerConfig {
    /// The value of an env variable in `env`, the last entry winning.
    pub fn env_value(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            (k == name).then_some(v)
        })
    }

    /// Sets `name` in `env`, replacing an earlier entry in place as Docker does.
    pub fn set_env(&mut self, name: &str, value: &str) {
        let entry = format!("{name}={value}");
        match self.env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == name)
        {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip_and_nulls_read_as_empty() {
        let text = r#"{"Env":["A=1"],"Cmd":null,"Hostname":"h","ArgsEscaped":true,
            "ExposedPorts":{"80/tcp":{}},"Custom":{"x":[1,2]}}"#;
        let config: ContainerConfig = serde_json::from_str(text).unwrap();
        assert_eq!(config.env, ["A=1"]);
        assert!(config.cmd.is_empty() && config.args_escaped);
        assert_eq!(config.extra["Hostname"], "h");
        let back = serde_json::to_value(&config).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"Env":["A=1"],"Hostname":"h","ArgsEscaped":true,
                "ExposedPorts":{"80/tcp":{}},"Custom":{"x":[1,2]}})
        );
        let mut c = config;
        c.set_env("A", "2");
        c.set_env("B", "3");
        assert_eq!((c.env_value("A"), c.env_value("B")), (Some("2"), Some("3")));
    }
}
