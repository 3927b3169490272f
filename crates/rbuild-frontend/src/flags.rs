//! `--flag` checking per instruction, as BuildKit's `bflag`: unknown,
//! duplicate, valueless and non-boolean flags are errors at the flag.

use rbuild_syntax::{Instruction, Keyword, Span};

use crate::error::FrontendError;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// One string value; the flag may appear once.
    Str,
    /// `--x`, `--x=true`, `--x=false`; once.
    Bool,
    /// Repeatable string values.
    List,
}

/// The flags an instruction takes.
fn spec(kind: Keyword) -> &'static [(&'static str, Kind)] {
    use Kind::{Bool, List, Str};
    match kind {
        Keyword::From => &[("platform", Str)],
        Keyword::Run => &[("mount", List), ("network", Str), ("security", Str)],
        Keyword::Copy => &[
            ("from", Str),
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("parents", Bool),
            ("exclude", List),
        ],
        Keyword::Add => &[
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("keep-git-dir", Bool),
            ("checksum", Str),
            ("unpack", Bool),
            ("exclude", List),
        ],
        Keyword::Healthcheck => &[
            ("interval", Str),
            ("timeout", Str),
            ("start-period", Str),
            ("start-interval", Str),
            ("retries", Str),
        ],
        _ => &[],
    }
}

/// The checked flags of one instruction.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(String, String, Span)>,
}

impl Flags {
    /// Checks the instruction's flags against what it takes.
    pub(crate) fn parse(inst: &Instruction) -> Result<Flags, FrontendError> {
        let spec = spec(inst.kind);
        let mut out = Flags::default();
        for flag in &inst.flags {
            let Some(&(_, kind)) = spec.iter().find(|(n, _)| *n == flag.name) else {
                return Err(FrontendError::new(format!("unknown flag: {}", flag.name), flag.span));
            };
            if kind != Kind::List && out.values.iter().any(|(n, _, _)| *n == flag.name) {
                return Err(FrontendError::new(
                    format!("duplicate flag specified: {}", flag.name),
                    flag.span,
                ));
            }
            let value = match (kind, flag.value.as_deref()) {
                (Kind::Bool, None | Some("")) => "true".to_owned(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_owned(),
                    "false" => "false".to_owned(),
                    _ => {
                        return Err(FrontendError::new(
                            format!("expecting boolean value for flag {}, not: {v}", flag.name),
                            flag.span,
                        ));
                    }
                },
                (_, None) => {
                    return Err(FrontendError::new(
                        format!("missing a value on flag: {}", flag.name),
                        flag.span,
                    ));
                }
                (_, Some(v)) => v.to_owned(),
            };
            out.values.push((flag.name.clone(), value, flag.span));
        }
        Ok(out)
    }

    /// A string flag's value and where it was written.
    pub(crate) fn string(&self, name: &str) -> Option<(&str, Span)> {
        self.values.iter().find(|(n, _, _)| n == name).map(|(_, v, s)| (v.as_str(), *s))
    }

    /// A boolean flag: `None` when not given.
    pub(crate) fn boolean(&self, name: &str) -> Option<bool> {
        self.string(name).map(|(v, _)| v == "true")
    }

    /// Every value of a repeatable flag, in order.
    pub(crate) fn list(&self, name: &str) -> Vec<(&str, Span)> {
        self.values.iter().filter(|(n, _, _)| n == name).map(|(_, v, s)| (v.as_str(), *s)).collect()
    }
}
