//! Cache keys that remember what they are made of, so a miss can say what
//! changed: "src/main.rs changed", "ARG VERSION changed 1.2 → 1.3",
//! "the parent step changed".

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A blake3 cache key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub [u8; 32]);

impl fmt::Display for CacheKey {
    /// Lower-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}

impl Serialize for CacheKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CacheKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CacheKey, D::Error> {
        let text = String::deserialize(d)?;
        let bad = || serde::de::Error::custom(format!("not a cache key: {text:?}"));
        if text.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(text.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
                .map_err(|_| bad())?;
        }
        Ok(CacheKey(out))
    }
}

/// Written first into every key: a store holding keys of another version
/// (another encoding) simply misses, it is never misread.
const KEY_VERSION: &[u8] = b"rbuild cache key v2\0";

/// A canonical text for a value with several fields, made field by field in
/// a fixed order (never from `Debug`, whose output changes when a type is
/// renamed): `kind{name:value,…}` with every value a JSON literal, so the
/// text is unambiguous and stays the same across releases.
#[derive(Clone, Debug)]
pub struct Fields {
    text: String,
    first: bool,
}

impl Fields {
    /// Starts the text of a value of `kind` (`bind`, `run`…).
    pub fn new(kind: &str) -> Fields {
        let mut text = String::with_capacity(64);
        text.push_str(kind);
        text.push('{');
        Fields { text, first: true }
    }

    fn name(&mut self, name: &str) {
        if !self.first {
            self.text.push(',');
        }
        self.first = false;
        self.text.push_str(name);
        self.text.push(':');
    }

    /// A text field.
    pub fn str(&mut self, name: &str, value: &str) -> &mut Fields {
        self.name(name);
        self.text.push_str(&json_string(value));
        self
    }

    /// An optional text field (`null` when absent).
    pub fn opt(&mut self, name: &str, value: Option<&str>) -> &mut Fields {
        match value {
            Some(v) => self.str(name, v),
            None => {
                self.name(name);
                self.text.push_str("null");
                self
            }
        }
    }

    /// A number.
    pub fn num(&mut self, name: &str, value: u64) -> &mut Fields {
        self.name(name);
        self.text.push_str(&value.to_string());
        self
    }

    /// A file mode, in octal as people read it.
    pub fn mode(&mut self, name: &str, value: u32) -> &mut Fields {
        self.str(name, &format!("{value:o}"))
    }

    /// A flag.
    pub fn bool(&mut self, name: &str, value: bool) -> &mut Fields {
        self.name(name);
        self.text.push_str(if value { "true" } else { "false" });
        self
    }

    /// A list of texts, in order.
    pub fn list<S: AsRef<str>>(&mut self, name: &str, values: &[S]) -> &mut Fields {
        self.name(name);
        self.text.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.text.push_str(&json_string(v.as_ref()));
        }
        self.text.push(']');
        self
    }

    /// A nested value's canonical text, as it is.
    pub fn raw(&mut self, name: &str, text: &str) -> &mut Fields {
        self.name(name);
        self.text.push_str(text);
        self
    }

    /// The finished text.
    pub fn finish(&mut self) -> String {
        let mut text = std::mem::take(&mut self.text);
        text.push('}');
        text
    }
}

/// `value` as a JSON string literal.
fn json_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| String::from("\"\""))
}

/// A value with a canonical text for cache keys, written with [`Fields`].
pub trait KeyText {
    /// The canonical text; equal values give equal texts, always.
    fn key_text(&self) -> String;
}

/// What kind of input a component is, which decides how a change reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The step this one builds on.
    Parent,
    /// A file of the build context or of another stage (its digest).
    File,
    /// A build arg or env variable the step sees (its value).
    Var,
    /// Anything else about the operation (command, user, mounts…).
    Op,
}

/// One named input of a key, with the value it had (a digest for files,
/// the text for the rest). Secrets never become components.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// What kind of input.
    pub kind: Kind,
    /// Its name: a path, a variable name, or an attribute like `command`.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// Collects the components of one step's key; the key is a hash of all of
/// them in a canonical order, so the order they are added in is irrelevant.
#[derive(Clone, Debug, Default)]
pub struct KeyBuilder {
    components: BTreeMap<(Kind, String), String>,
}

impl KeyBuilder {
    /// An empty builder.
    pub fn new() -> KeyBuilder {
        KeyBuilder::default()
    }

    /// Adds (or replaces) a component.
    pub fn add(
        &mut self,
        kind: Kind,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> &mut Self {
        self.components.insert((kind, name.into()), value.into());
        self
    }

    /// The key and the components it was made of, in canonical order.
    pub fn finish(&self) -> (CacheKey, Vec<Component>) {
        let mut hasher = blake3::Hasher::new();
        hasher.update(KEY_VERSION);
        let mut out = Vec::with_capacity(self.components.len());
        for ((kind, name), value) in &self.components {
            let kind_tag = match kind {
                Kind::Parent => "p",
                Kind::File => "f",
                Kind::Var => "v",
                Kind::Op => "o",
            };
            for part in [kind_tag, name.as_str(), value.as_str()] {
                hasher.update(&(part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
            out.push(Component { kind: *kind, name: name.clone(), value: value.clone() });
        }
        (CacheKey(*hasher.finalize().as_bytes()), out)
    }
}

/// What a redacted value starts with: a hash stands in for the text.
const HASHED: &str = "hashed:";

/// The components as they may leave this machine (a shared cache): the
/// values of variables and op attributes (ARG and ENV values, commands,
/// heredoc contents) become hashes, so a record reveals no more than its
/// key needs; file digests and parent keys are hashes already and stay, so
/// another runner can still say which file changed.
pub fn redact(components: &[Component]) -> Vec<Component> {
    components
        .iter()
        .map(|c| match c.kind {
            Kind::Var | Kind::Op => {
                let mut hasher = blake3::Hasher::new();
                for part in ["rbuild redacted component v1", c.name.as_str(), c.value.as_str()] {
                    hasher.update(&(part.len() as u64).to_le_bytes());
                    hasher.update(part.as_bytes());
                }
                Component {
                    kind: c.kind,
                    name: c.name.clone(),
                    value: format!("{HASHED}{}", hasher.finalize().to_hex()),
                }
            }
            Kind::Parent | Kind::File => c.clone(),
        })
        .collect()
}

/// How many changed files a reason names before it counts the rest.
const FILES_NAMED: usize = 3;

/// Why `new` misses where `old` (the same step's components last time)
/// would have hit: the changed files first, then variables with their old
/// and new values, then other attributes, then the parent. `None` when
/// nothing differs.
pub fn explain(old: &[Component], new: &[Component]) -> Option<String> {
    let index = |list: &[Component]| -> BTreeMap<(Kind, String), String> {
        list.iter().map(|c| ((c.kind, c.name.clone()), c.value.clone())).collect()
    };
    let (old, new) = (index(old), index(new));
    let mut files = Vec::new();
    let mut vars = Vec::new();
    let mut ops = Vec::new();
    let mut parent = false;
    let keys: std::collections::BTreeSet<_> = old.keys().chain(new.keys()).collect();
    for key in keys {
        let (before, after) = (old.get(key), new.get(key));
        if before == after {
            continue;
        }
        let (kind, name) = key;
        match kind {
            Kind::File => files.push(match (before, after) {
                (None, _) => format!("{name} added"),
                (_, None) => format!("{name} removed"),
                _ => format!("{name} changed"),
            }),
            Kind::Var => vars.push(match (before, after) {
                (Some(b), Some(a)) if b.starts_with(HASHED) || a.starts_with(HASHED) => {
                    format!("{name} changed")
                }
                (Some(b), Some(a)) => format!("{name} changed {b} → {a}"),
                (None, Some(a)) if a.starts_with(HASHED) => format!("{name} set"),
                (Some(b), None) if b.starts_with(HASHED) => format!("{name} unset"),
                (None, Some(a)) => format!("{name} set to {a}"),
                (Some(b), None) => format!("{name} unset (was {b})"),
                (None, None) => continue,
            }),
            Kind::Op => ops.push(format!("{name} changed")),
            Kind::Parent => parent = true,
        }
    }
    let mut parts = Vec::new();
    if !files.is_empty() {
        let extra = files.len().saturating_sub(FILES_NAMED);
        let mut text = files.into_iter().take(FILES_NAMED).collect::<Vec<_>>().join(", ");
        if extra > 0 {
            text.push_str(&format!(" and {extra} more file{}", if extra == 1 { "" } else { "s" }));
        }
        parts.push(text);
    }
    parts.extend(vars);
    parts.extend(ops);
    if parent && parts.is_empty() {
        parts.push("the parent step changed".to_owned());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[(Kind, &str, &str)]) -> (CacheKey, Vec<Component>) {
        let mut b = KeyBuilder::new();
        for (k, n, v) in parts {
            b.add(*k, *n, *v);
        }
        b.finish()
    }

    #[test]
    fn keys_ignore_insertion_order_and_see_every_part() {
        let a = key(&[(Kind::Op, "command", "make"), (Kind::Var, "V", "1")]);
        let b = key(&[(Kind::Var, "V", "1"), (Kind::Op, "command", "make")]);
        assert_eq!(a.0, b.0);
        assert_ne!(a.0, key(&[(Kind::Op, "command", "make"), (Kind::Var, "V", "2")]).0);
        // Boundaries are length-prefixed: "ab"+"c" is not "a"+"bc".
        assert_ne!(key(&[(Kind::Op, "ab", "c")]).0, key(&[(Kind::Op, "a", "bc")]).0);
        assert_ne!(key(&[(Kind::Op, "x", "1")]).0, key(&[(Kind::Var, "x", "1")]).0);
        let text = a.0.to_string();
        let back: CacheKey = serde_json::from_str(&format!("\"{text}\"")).unwrap();
        assert_eq!(back, a.0);
    }

    #[test]
    fn fields_are_canonical_and_unambiguous() {
        let a = Fields::new("m").str("a", "x,y").opt("b", None).num("n", 7).finish();
        assert_eq!(a, r#"m{a:"x,y",b:null,n:7}"#);
        let list =
            Fields::new("l").list("v", &["a\"b", "c"]).bool("f", true).mode("m", 0o755).finish();
        assert_eq!(list, r#"l{v:["a\"b","c"],f:true,m:"755"}"#);
        assert_ne!(
            Fields::new("x").str("a", "1").str("b", "2").finish(),
            Fields::new("x").str("a", "1,b:2").finish()
        );
    }

    #[test]
    fn explanations_name_what_changed() {
        let old = key(&[
            (Kind::Parent, "parent", "p1"),
            (Kind::File, "src/a.txt", "d1"),
            (Kind::File, "src/b.txt", "d2"),
            (Kind::Var, "VERSION", "1.2"),
        ])
        .1;
        let files = key(&[
            (Kind::Parent, "parent", "p1"),
            (Kind::File, "src/a.txt", "d1x"),
            (Kind::File, "src/b.txt", "d2"),
            (Kind::File, "src/c.txt", "d3"),
            (Kind::Var, "VERSION", "1.3"),
        ])
        .1;
        assert_eq!(
            explain(&old, &files).unwrap(),
            "src/a.txt changed, src/c.txt added; VERSION changed 1.2 → 1.3"
        );
        let parent = key(&[
            (Kind::Parent, "parent", "p2"),
            (Kind::File, "src/a.txt", "d1"),
            (Kind::File, "src/b.txt", "d2"),
            (Kind::Var, "VERSION", "1.2"),
        ])
        .1;
        assert_eq!(explain(&old, &parent).unwrap(), "the parent step changed");
        assert_eq!(explain(&old, &old), None);
        let many: Vec<Component> = (0..6)
            .map(|i| Component { kind: Kind::File, name: format!("f{i}"), value: "x".into() })
            .collect();
        assert_eq!(explain(&[], &many).unwrap(), "f0 added, f1 added, f2 added and 3 more files");
    }

    #[test]
    fn redacted_components_hide_values_and_still_explain() {
        let one = key(&[
            (Kind::Parent, "parent", "p1"),
            (Kind::File, "src/app.py", "d1"),
            (Kind::Var, "TOKEN", "s3cr3t-value"),
            (Kind::Op, "command", "echo s3cr3t-value"),
        ])
        .1;
        let shared = redact(&one);
        let text = serde_json::to_string(&shared).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("src/app.py") && text.contains("d1") && text.contains("p1"));
        assert_eq!(redact(&one), shared, "stable, so equal inputs compare equal");
        let mut two = one.clone();
        two[1].value = "d2".into();
        two[2].value = "other".into();
        assert_eq!(
            explain(&shared, &redact(&two)).unwrap(),
            "src/app.py changed; TOKEN changed",
            "no value is shown, not even the new one"
        );
        assert_eq!(explain(&shared, &redact(&one)), None);
    }
}
