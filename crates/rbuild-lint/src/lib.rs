/*!
Dockerfile lint rules for rbuild: layer bloat, pinning, shell habits that do
not survive a layer, and every check of `docker build --check` that the
Dockerfile alone decides, with renderers for people (code frames), scripts
(JSON), code scanning (SARIF 2.1.0) and CI dashboards (checkstyle).

Each rule is a static [`Rule`] with a stable code, a kebab-case name and the
hadolint / BuildKit names it stands for, so `# hadolint ignore=DL3003` and
`# check=skip=JSONArgsRecommended` keep working next to
`# rbuild-ignore=run-cd`.

# Example

```
let source = "FROM alpine:3.20\nRUN cd /src && make\n";
let findings = rbuild_lint::Linter::new().lint(source);
assert_eq!(findings[0].code, "RB001");
assert_eq!(findings[0].name, "run-cd");
assert_eq!((findings[0].location.line, findings[0].location.column), (2, 5));
```
*/
#![deny(missing_docs)]

mod context;
mod diagnostic;
mod render;
mod rule;
mod rules;
mod script;
mod suppress;

pub use context::{Context, LayerFacts, Stage};
pub use diagnostic::{Diagnostic, Location};
pub use render::github::workflow_command;
pub use render::{FileReport, Format, render, rules_json};
pub use rule::{Rule, Severity};
pub use rules::RULES;
pub use script::{Command, Script, Sep, Word};

use diagnostic::LineIndex;
use rule::Findings;

/// The rule a code, name or alias (`RB001`, `run-cd`, `DL3003`,
/// `JSONArgsRecommended`) names, for validating `--ignore` and suppressions.
pub fn find_rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.is_named(id))
}

/// Runs the rules over Dockerfiles; configured once, used for many files.
#[derive(Clone, Debug, Default)]
pub struct Linter {
    ignore: Vec<String>,
    select: Option<Vec<String>>,
}

impl Linter {
    /// A linter with every rule on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Turns a rule off by code, name or alias.
    pub fn ignore(mut self, id: impl Into<String>) -> Self {
        self.ignore.push(id.into());
        self
    }

    /// Runs only the named rules (and still reports files that do not parse).
    pub fn select<I: Into<String>>(mut self, ids: impl IntoIterator<Item = I>) -> Self {
        self.select = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    fn enabled(&self, rule: &Rule) -> bool {
        if self.ignore.iter().any(|id| rule.is_named(id)) {
            return false;
        }
        match &self.select {
            Some(ids) => ids.iter().any(|id| rule.is_named(id)),
            None => true,
        }
    }

    /// The findings for one Dockerfile, sorted by position.
    pub fn lint(&self, source: &str) -> Vec<Diagnostic> {
        self.lint_with_layers(source, None)
    }

    /// The findings for one Dockerfile whose built image has been analysed.
    pub fn lint_with_layers(&self, source: &str, layers: Option<&LayerFacts>) -> Vec<Diagnostic> {
        let index = LineIndex::new(source);
        let mut out = Vec::new();
        match rbuild_syntax::parse(source) {
            Err(err) => {
                let span = err.span();
                let mut findings = Findings::new(&rules::syntax_error::RULE, &mut out);
                let diagnostic = findings.add(span.range(), err.message());
                if let Some(expected) = err.expected_text() {
                    diagnostic.help(format!("expected {expected}"));
                }
            }
            Ok(dockerfile) => {
                let cx = Context::new(source, &dockerfile, layers);
                let check = suppress::CheckDirective::read(&dockerfile);
                for rule in RULES.iter().copied() {
                    if !self.enabled(rule) || check.skips(rule) {
                        continue;
                    }
                    let before = out.len();
                    (rule.check)(&cx, &mut Findings::new(rule, &mut out));
                    if check.error && rule.docker_check().is_some() {
                        for d in &mut out[before..] {
                            d.severity = Severity::Error;
                        }
                    }
                }
                suppress::inline(&dockerfile, &mut out);
            }
        }
        for d in &mut out {
            // Spans inside JSON strings are approximate: keep them inside
            // the text and on character boundaries for every renderer.
            d.range.end = floor_char_boundary(source, d.range.end);
            d.range.start = floor_char_boundary(source, d.range.start.min(d.range.end));
            d.location = index.locate(source, &d.range);
        }
        out.sort_by(|a, b| (a.range.start, a.code).cmp(&(b.range.start, b.code)));
        out
    }
}

fn floor_char_boundary(source: &str, at: usize) -> usize {
    let mut at = at.min(source.len());
    while !source.is_char_boundary(at) {
        at -= 1;
    }
    at
}
