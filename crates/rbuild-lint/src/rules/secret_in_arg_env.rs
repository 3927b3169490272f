//! RB035: secrets in ARG or ENV.

use rbuild_syntax::{Arguments, Keyword};

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB035",
    name: "secret-in-arg-env",
    severity: Severity::Warning,
    aliases: &["SecretsUsedInArgOrEnv", "DL3064"],
    summary: "ARG or ENV whose name or value looks like a password, token or key",
    docs: r#"## What it does
Flags ARG and ENV entries whose name contains a word such as `password`,
`secret`, `token`, `apikey` or `private_key`, and values that look like
credentials (`-----BEGIN … PRIVATE KEY-----`, GitHub, GitLab, Slack, Stripe
and AWS access-key shapes). Names that speak of public keys or fingerprints are
left alone.

## Why is this bad
ENV values are stored in the image config, and ARG values in the build
history of every RUN after them: `docker history` and `docker inspect` show
them to anyone who can pull the image.

## Example
```dockerfile
ARG NPM_TOKEN
RUN echo "//registry.npmjs.org/:_authToken=${NPM_TOKEN}" > .npmrc && npm ci
```

## Use instead
```dockerfile
RUN --mount=type=secret,id=npm_token,env=NPM_TOKEN \
    echo "//registry.npmjs.org/:_authToken=${NPM_TOKEN}" > .npmrc && npm ci && rm .npmrc
```
"#,
    check,
};

/// Words of a name that mark it as secret on their own.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
    "passphrase",
    "privatekey",
    "accesskey",
    "secretkey",
    "auth",
];
/// Words that make a following `key` secret (`api_key`, `PRIVATE_KEY`).
const KEY_QUALIFIERS: &[&str] =
    &["api", "private", "secret", "access", "auth", "signing", "encryption", "client", "master"];
/// Words that mark a name as public (`GPG_PUBLIC_KEY`, `KEY_FINGERPRINT`).
const PUBLIC_WORDS: &[&str] = &[
    "public",
    "pub",
    "fingerprint",
    "id",
    "file",
    "path",
    "url",
    "dir",
    "length",
    "type",
    "config",
    "helper",
];

/// The words of a name: split at `_`, `-`, `.` and lower-to-upper changes.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if matches!(c, '_' | '-' | '.') {
            out.push(std::mem::take(&mut current));
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower {
            out.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_lowercase());
    }
    out.push(current);
    out.retain(|w| !w.is_empty());
    out
}

pub(crate) fn secret_name(name: &str) -> bool {
    let words = words(name);
    if words.iter().any(|w| PUBLIC_WORDS.contains(&w.as_str())) {
        return false;
    }
    words.iter().enumerate().any(|(k, w)| {
        SECRET_WORDS.contains(&w.as_str())
            || (w == "key" && k > 0 && KEY_QUALIFIERS.contains(&words[k - 1].as_str()))
    })
}

fn secret_value(value: &str) -> bool {
    let v = value.trim_matches(['"', '\'']);
    let prefixed = |prefix: &str, min: usize| {
        v.strip_prefix(prefix).is_some_and(|rest| {
            rest.len() >= min
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    };
    v.contains("PRIVATE KEY-----")
        || ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"].iter().any(|p| prefixed(p, 30))
        || prefixed("github_pat_", 40)
        || prefixed("glpat-", 20)
        || ["xoxb-", "xoxp-", "xoxa-"].iter().any(|p| prefixed(p, 20))
        || ["sk_live_", "rk_live_"].iter().any(|p| prefixed(p, 20))
        || (v.len() == 20
            && (v.starts_with("AKIA") || v.starts_with("ASIA"))
            && v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
}

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for inst in cx.instructions() {
        let kind = inst.kind.as_str();
        match (&inst.kind, &inst.args) {
            (Keyword::Env | Keyword::Arg, Arguments::Pairs(pairs)) => {
                for pair in pairs {
                    report(
                        out,
                        kind,
                        &pair.key.value,
                        Some(&pair.value.value),
                        pair.key.span.range(),
                    );
                }
            }
            (Keyword::Arg, Arguments::Values(args)) => {
                for arg in args {
                    let (name, value) = match arg.value.split_once('=') {
                        Some((n, v)) => (n, Some(v)),
                        None => (arg.value.as_str(), None),
                    };
                    report(out, kind, name, value, arg.span.range());
                }
            }
            _ => {}
        }
    }
}

fn report(
    out: &mut Findings<'_>,
    kind: &str,
    name: &str,
    value: Option<&str>,
    range: std::ops::Range<usize>,
) {
    if secret_name(name) {
        out.add(
            range,
            format!("{kind} `{name}` looks like a secret; its value stays readable in the image"),
        )
        .help("pass secrets with `RUN --mount=type=secret`");
    } else if value.is_some_and(secret_value) {
        out.add(range, format!("the value of {kind} `{name}` looks like a credential"))
            .help("pass secrets with `RUN --mount=type=secret`");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_split_into_words() {
        assert_eq!(words("npmAuthToken"), ["npm", "auth", "token"]);
        assert!(secret_name("DB_PASSWORD"));
        assert!(secret_name("githubToken"));
        assert!(secret_name("AWS_SECRET_ACCESS_KEY"));
        assert!(secret_name("API_KEY"));
        assert!(!secret_name("GPG_KEY"));
        assert!(!secret_name("GPG_PUBLIC_KEY"));
        assert!(!secret_name("PASSWORD_FILE"));
        assert!(!secret_name("PYTHON_VERSION"));
        assert!(!secret_name("KEYBOARD"));
        assert!(!secret_name("BYPASS"));
        assert!(!secret_name("DOCKER_CREDENTIAL_GCR_CONFIG"));
        assert!(!secret_name("DOCKER_CREDENTIAL_GCR_CONFIG"));
    }

    #[test]
    fn credential_shapes_are_recognised() {
        assert!(secret_value("AKIAABCDEFGHIJKLMNOP"));
        assert!(secret_value("ghp_abcdefghijklmnopqrstuvwxyz0123456789"));
        assert!(!secret_value("3.12.1"));
    }
}
