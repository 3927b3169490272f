//! `RUN --mount=…` as BuildKit reads it: comma-separated `key=value`
//! fields (CSV quoting allowed), `type` defaulting to `bind`.

use std::fmt;

/// How concurrent steps share a cache mount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    /// Every user sees the same directory at once.
    #[default]
    Shared,
    /// A user that finds it busy gets a directory of its own.
    Private,
    /// A user that finds it busy waits.
    Locked,
}

/// One `--mount` of a RUN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunMount {
    /// `type=bind`: a directory of a stage, an image or the context.
    Bind {
        /// Path in the step.
        target: String,
        /// Path within the source (default its root).
        source: String,
        /// Stage or image; `None` is the build context.
        from: Option<String>,
        /// Writable, with the writes thrown away.
        rw: bool,
    },
    /// `type=cache`: a directory kept in the store across builds.
    Cache {
        /// Path in the step.
        target: String,
        /// Cache identity; defaults to the target.
        id: String,
        /// Concurrency.
        sharing: Sharing,
        /// Mounted read-only.
        readonly: bool,
        /// Mode of the directory when first made.
        mode: u32,
        /// Owner of the directory when first made.
        uid: u32,
        /// Group of the directory when first made.
        gid: u32,
        /// Seed the cache from this stage or image (first use only).
        from: Option<String>,
        /// Path within `from`.
        source: String,
    },
    /// `type=tmpfs`.
    Tmpfs {
        /// Path in the step.
        target: String,
        /// Size limit in bytes; 0 for the default.
        size: u64,
    },
    /// `type=secret`: a build secret as a file or an env variable.
    Secret {
        /// Secret id.
        id: String,
        /// File path in the step; `/run/secrets/<id>` unless `env` is set.
        target: Option<String>,
        /// Env variable to put the value in.
        env: Option<String>,
        /// Fail when the secret was not given.
        required: bool,
        /// File mode.
        mode: u32,
        /// File owner.
        uid: u32,
        /// File group.
        gid: u32,
    },
    /// `type=ssh`: the ssh agent socket.
    Ssh {
        /// Agent id.
        id: String,
        /// Socket path in the step.
        target: String,
        /// Fail when no agent was given.
        required: bool,
        /// Socket mode.
        mode: u32,
        /// Socket owner.
        uid: u32,
        /// Socket group.
        gid: u32,
    },
}

/// A `--mount` value that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountError {
    /// The flag value.
    pub value: String,
    /// What is wrong.
    pub why: String,
}

impl fmt::Display for MountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid --mount {:?}: {}", self.value, self.why)
    }
}

impl std::error::Error for MountError {}

/// Splits a CSV record as Go's encoding/csv does for one line (how
/// `--mount` and other flag values with several fields are read).
pub fn csv_fields(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = value.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                out.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            c => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    out.push(field);
    Ok(out)
}

fn parse_bool(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None => Ok(true),
        Some("true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(true),
        Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(format!("invalid value for {key}: {other:?}")),
    }
}

fn parse_num(key: &str, value: Option<&str>, radix: u32) -> Result<u32, String> {
    let value = value.ok_or_else(|| format!("{key} needs a value"))?;
    u32::from_str_radix(value, radix).map_err(|_| format!("invalid value for {key}: {value:?}"))
}

/// A size as docker reads `--keep-storage` and `--mount` sizes (go-units
/// RAMInBytes): `64m`, `1g`, `1GiB`, `1024` (bytes); k, m, g, t and p are
/// powers of 1024, with or without `b`/`ib`.
pub fn parse_size(value: &str) -> Result<u64, String> {
    let lower = value.trim().to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let bad = || format!("invalid size {value:?} (expected a number and k, m, g, t or p)");
    let num: f64 = num.parse().map_err(|_| bad())?;
    let power = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 2,
        "g" | "gb" | "gib" => 3,
        "t" | "tb" | "tib" => 4,
        "p" | "pb" | "pib" => 5,
        _ => return Err(bad()),
    };
    Ok((num * 1024f64.powi(power)) as u64)
}

impl RunMount {
    /// Reads one `--mount` flag value.
    pub fn parse(value: &str) -> Result<RunMount, MountError> {
        Self::parse_inner(value).map_err(|why| MountError { value: value.to_owned(), why })
    }

    fn parse_inner(value: &str) -> Result<RunMount, String> {
        let fields: Vec<(String, Option<String>)> = csv_fields(value)?
            .into_iter()
            .map(|field| match field.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (field, None),
            })
            .collect();
        Self::from_fields(&fields)
    }

    /// Builds a mount from `key[=value]` fields already split (and, in the
    /// frontend, expanded): the one reading of `--mount`, so nothing is
    /// quoted back into CSV to be parsed again.
    pub fn from_fields(fields: &[(String, Option<String>)]) -> Result<RunMount, String> {
        let mut kind = "bind".to_owned();
        let mut pairs = Vec::new();
        for (key, val) in fields {
            let key = key.trim().to_ascii_lowercase();
            if key == "type" {
                kind = val.clone().ok_or("type needs a value")?.to_ascii_lowercase();
            } else {
                pairs.push((key, val.clone()));
            }
        }
        let mut target = None;
        let (mut source, mut from, mut id) = (String::new(), None, None);
        let (mut rw, mut readonly, mut required, mut sharing) =
            (false, false, false, Sharing::Shared);
        let (mut mode, mut uid, mut gid, mut size, mut env) = (None, 0, 0, 0, None);
        for (key, val) in &pairs {
            let v = val.as_deref();
            let need = || v.map(str::to_owned).ok_or_else(|| format!("{key} needs a value"));
            match key.as_str() {
                "target" | "dst" | "destination" => target = Some(need()?),
                "source" | "src" => source = need()?,
                "from" => from = Some(need()?),
                "id" => id = Some(need()?),
                "rw" | "readwrite" => rw = parse_bool(key, v)?,
                "ro" | "readonly" => readonly = parse_bool(key, v)?,
                "required" => required = parse_bool(key, v)?,
                "sharing" => {
                    sharing = match need()?.as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        other => return Err(format!("unsupported sharing value {other:?}")),
                    }
                }
                "mode" => mode = Some(parse_num(key, v, 8)?),
                "uid" => uid = parse_num(key, v, 10)?,
                "gid" => gid = parse_num(key, v, 10)?,
                "size" if kind == "tmpfs" => size = parse_size(&need()?)?,
                "env" if kind == "secret" => env = Some(need()?),
                other => return Err(format!("unexpected key {other:?} for type={kind}")),
            }
        }
        let target_required = || target.clone().ok_or_else(|| "target is required".to_owned());
        let absolute = |t: String| if t.starts_with('/') { t } else { format!("/{t}") };
        Ok(match kind.as_str() {
            "bind" => RunMount::Bind { target: absolute(target_required()?), source, from, rw },
            "cache" => {
                let target = absolute(target_required()?);
                RunMount::Cache {
                    id: id.unwrap_or_else(|| target.clone()),
                    target,
                    sharing,
                    readonly,
                    mode: mode.unwrap_or(0o755),
                    uid,
                    gid,
                    from,
                    source,
                }
            }
            "tmpfs" => RunMount::Tmpfs { target: absolute(target_required()?), size },
            "secret" => {
                let id = match (id, &target) {
                    (Some(id), _) => id,
                    (None, Some(t)) => t.rsplit('/').next().unwrap_or_default().to_owned(),
                    (None, None) => return Err("secret needs an id or a target".into()),
                };
                let target = match (target, &env) {
                    (Some(t), _) => Some(absolute(t)),
                    (None, None) => Some(format!("/run/secrets/{id}")),
                    (None, Some(_)) => None,
                };
                RunMount::Secret {
                    id,
                    target,
                    env,
                    required,
                    mode: mode.unwrap_or(0o400),
                    uid,
                    gid,
                }
            }
            "ssh" => RunMount::Ssh {
                id: id.unwrap_or_else(|| "default".into()),
                target: target.map_or_else(|| "/run/buildkit/ssh_agent.0".to_owned(), absolute),
                required,
                mode: mode.unwrap_or(0o600),
                uid,
                gid,
            },
            other => return Err(format!("unsupported mount type {other:?}")),
        })
    }
}

impl crate::KeyText for RunMount {
    /// Every field, by name, in a fixed order: the mount's part of a RUN
    /// step's key. Secrets are named by id only; their values are never here.
    fn key_text(&self) -> String {
        use crate::Fields;
        match self {
            RunMount::Bind { target, source, from, rw } => Fields::new("bind")
                .str("target", target)
                .str("source", source)
                .opt("from", from.as_deref())
                .bool("rw", *rw)
                .finish(),
            RunMount::Cache { target, id, sharing, readonly, mode, uid, gid, from, source } => {
                Fields::new("cache")
                    .str("target", target)
                    .str("id", id)
                    .str("sharing", sharing.as_str())
                    .bool("readonly", *readonly)
                    .mode("mode", *mode)
                    .num("uid", u64::from(*uid))
                    .num("gid", u64::from(*gid))
                    .opt("from", from.as_deref())
                    .str("source", source)
                    .finish()
            }
            RunMount::Tmpfs { target, size } => {
                Fields::new("tmpfs").str("target", target).num("size", *size).finish()
            }
            RunMount::Secret { id, target, env, required, mode, uid, gid } => Fields::new("secret")
                .str("id", id)
                .opt("target", target.as_deref())
                .opt("env", env.as_deref())
                .bool("required", *required)
                .mode("mode", *mode)
                .num("uid", u64::from(*uid))
                .num("gid", u64::from(*gid))
                .finish(),
            RunMount::Ssh { id, target, required, mode, uid, gid } => Fields::new("ssh")
                .str("id", id)
                .str("target", target)
                .bool("required", *required)
                .mode("mode", *mode)
                .num("uid", u64::from(*uid))
                .num("gid", u64::from(*gid))
                .finish(),
        }
    }
}

impl Sharing {
    /// As written in the flag.
    pub fn as_str(self) -> &'static str {
        match self {
            Sharing::Shared => "shared",
            Sharing::Private => "private",
            Sharing::Locked => "locked",
        }
    }
}

impl fmt::Display for Sharing {
    /// As written in the flag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_with_its_defaults() {
        assert_eq!(
            RunMount::parse("target=/src").unwrap(),
            RunMount::Bind { target: "/src".into(), source: String::new(), from: None, rw: false }
        );
        assert_eq!(
            RunMount::parse("type=bind,from=build,source=/out,dst=app,rw").unwrap(),
            RunMount::Bind {
                target: "/app".into(),
                source: "/out".into(),
                from: Some("build".into()),
                rw: true
            }
        );
        assert_eq!(
            RunMount::parse("type=cache,target=/root/.cache").unwrap(),
            RunMount::Cache {
                target: "/root/.cache".into(),
                id: "/root/.cache".into(),
                sharing: Sharing::Shared,
                readonly: false,
                mode: 0o755,
                uid: 0,
                gid: 0,
                from: None,
                source: String::new(),
            }
        );
        let RunMount::Cache { id, sharing, mode, uid, .. } = RunMount::parse(
            "type=cache,id=apt,target=/var/cache/apt,sharing=locked,mode=0700,uid=1000",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!((id.as_str(), sharing, mode, uid), ("apt", Sharing::Locked, 0o700, 1000));
        assert_eq!(
            RunMount::parse("type=tmpfs,target=/t,size=64m").unwrap(),
            RunMount::Tmpfs { target: "/t".into(), size: 64 << 20 }
        );
        assert_eq!(
            RunMount::parse("type=secret,id=token").unwrap(),
            RunMount::Secret {
                id: "token".into(),
                target: Some("/run/secrets/token".into()),
                env: None,
                required: false,
                mode: 0o400,
                uid: 0,
                gid: 0
            }
        );
        let RunMount::Secret { target, env, required, .. } =
            RunMount::parse("type=secret,id=token,env=TOKEN,required").unwrap()
        else {
            panic!()
        };
        assert_eq!((target, env.as_deref(), required), (None, Some("TOKEN"), true));
        let RunMount::Ssh { id, target, mode, .. } = RunMount::parse("type=ssh").unwrap() else {
            panic!()
        };
        assert_eq!(
            (id.as_str(), target.as_str(), mode),
            ("default", "/run/buildkit/ssh_agent.0", 0o600)
        );
        assert_eq!(
            RunMount::parse(r#""type=bind","target=/a,b""#).unwrap(),
            RunMount::Bind { target: "/a,b".into(), source: String::new(), from: None, rw: false }
        );
    }

    #[test]
    fn bad_values_say_why() {
        for (value, why) in [
            ("type=cache", "target is required"),
            ("type=nfs,target=/x", "unsupported mount type \"nfs\""),
            ("type=cache,target=/x,sharing=sometimes", "unsupported sharing value"),
            ("type=bind,target=/x,size=1g", "unexpected key \"size\""),
            ("type=cache,target=/x,mode=999", "invalid value for mode"),
            ("type=tmpfs,target=/x,size=lots", "invalid size"),
            ("type=secret", "needs an id or a target"),
            ("\"type=bind", "unterminated quote"),
        ] {
            let err = RunMount::parse(value).unwrap_err();
            assert!(err.why.contains(why), "{value}: {}", err.why);
            assert!(err.to_string().contains(value), "{err}");
        }
    }
}
