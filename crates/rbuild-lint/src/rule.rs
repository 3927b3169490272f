//! What a rule is: its identity (code, name, aliases), its severity, its
//! documentation, and the function that checks a Dockerfile.

use std::ops::Range;

use serde::Serialize;

use crate::context::Context;
use crate::diagnostic::Diagnostic;

/// How much a finding matters; `--error-on` compares against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A hint: smaller or cleaner images, better habits.
    Info,
    /// Likely a mistake, or a cost the author did not mean to pay.
    Warning,
    /// The build fails, or the image is wrong or unsafe.
    Error,
}

impl Severity {
    /// The lower-case name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One lint rule. Rules are static values, listed in [`crate::RULES`].
#[derive(Debug)]
pub struct Rule {
    /// The stable code (`RB001`); never reused once published.
    pub code: &'static str,
    /// The kebab-case name (`run-cd`), accepted wherever a code is.
    pub name: &'static str,
    /// The severity of its findings.
    pub severity: Severity,
    /// The hadolint code (`DL3003`) and/or the `docker build --check` name
    /// (`JSONArgsRecommended`) of the same check, so suppressions written for
    /// those tools keep working.
    pub aliases: &'static [&'static str],
    /// One line for `--list-rules`.
    pub summary: &'static str,
    /// Markdown with the sections "What it does", "Why is this bad",
    /// "Example" and "Use instead".
    pub docs: &'static str,
    pub(crate) check: fn(&Context<'_>, &mut Findings<'_>),
}

impl Rule {
    /// Whether `id` names this rule: its code, name or an alias, in any case.
    pub fn is_named(&self, id: &str) -> bool {
        let id = id.trim();
        self.code.eq_ignore_ascii_case(id)
            || self.name.eq_ignore_ascii_case(id)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    }

    /// The `docker build --check` name this rule stands for, if any, which
    /// the `# check=` directive refers to.
    pub fn docker_check(&self) -> Option<&'static str> {
        self.aliases.iter().copied().find(|a| !is_hadolint_code(a))
    }
}

fn is_hadolint_code(alias: &str) -> bool {
    alias.len() == 6 && alias.starts_with("DL") && alias[2..].bytes().all(|b| b.is_ascii_digit())
}

/// Where a rule reports its findings.
pub(crate) struct Findings<'a> {
    rule: &'static Rule,
    out: &'a mut Vec<Diagnostic>,
}

impl<'a> Findings<'a> {
    pub(crate) fn new(rule: &'static Rule, out: &'a mut Vec<Diagnostic>) -> Self {
        Self { rule, out }
    }

    /// Reports `message` at the bytes `range` of the Dockerfile.
    pub(crate) fn add(
        &mut self,
        range: Range<usize>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.out.push(Diagnostic::new(self.rule, range, message.into()));
        self.out.last_mut().expect("just pushed")
    }
}
