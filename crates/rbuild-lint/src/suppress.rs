//! Turning findings off from inside the Dockerfile: `# rbuild-ignore=…` and
//! `# hadolint ignore=…` above an instruction, `# hadolint global ignore=…`,
//! and BuildKit's `# check=skip=…;error=true` directive.

use std::collections::BTreeMap;

use rbuild_syntax::Dockerfile;

use crate::diagnostic::Diagnostic;
use crate::rule::Rule;
use crate::rules::RULES;

/// The `# check=` directive: which BuildKit checks to skip, and whether
/// their findings are errors.
#[derive(Debug, Default)]
pub(crate) struct CheckDirective {
    skip: Vec<String>,
    skip_all: bool,
    pub(crate) error: bool,
}

impl CheckDirective {
    pub(crate) fn read(dockerfile: &Dockerfile) -> Self {
        let mut check = Self::default();
        let Some(value) = dockerfile.directive("check") else { return check };
        for part in value.split(';') {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "skip" => {
                    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        if name.eq_ignore_ascii_case("all") {
                            check.skip_all = true;
                        } else {
                            check.skip.push(name.to_owned());
                        }
                    }
                }
                "error" => check.error = value.trim().eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        check
    }

    /// BuildKit's directive speaks of its own checks only.
    pub(crate) fn skips(&self, rule: &Rule) -> bool {
        rule.docker_check().is_some()
            && (self.skip_all || self.skip.iter().any(|name| rule.is_named(name)))
    }
}

/// The rule ids a comment turns off, and whether for the whole file.
fn ignored_ids(text: &str) -> Option<(bool, Vec<&str>)> {
    let (global, list) = if let Some(rest) = text.strip_prefix("rbuild-ignore=") {
        (false, rest)
    } else if let Some(rest) = text.strip_prefix("hadolint") {
        let rest = rest.trim_start();
        if let Some(rest) = rest.strip_prefix("global") {
            (true, rest.trim_start().strip_prefix("ignore=")?)
        } else {
            (false, rest.strip_prefix("ignore=")?)
        }
    } else {
        return None;
    };
    let ids = list
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .take_while(|id| !id.starts_with('#'))
        .filter(|id| !id.is_empty())
        .collect();
    Some((global, ids))
}

/// Drops the findings that a suppression comment covers. A comment covers
/// the instruction right below it, through any further comment lines.
pub(crate) fn inline(dockerfile: &Dockerfile, out: &mut Vec<Diagnostic>) {
    let mut by_line: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    let mut comment_lines = std::collections::BTreeSet::new();
    let mut global: Vec<&str> = Vec::new();
    for comment in &dockerfile.comments {
        comment_lines.insert(comment.span.line);
        if let Some((is_global, ids)) = ignored_ids(&comment.text) {
            if is_global {
                global.extend(ids);
            } else {
                by_line.entry(comment.span.line).or_default().extend(ids);
            }
        }
    }
    if by_line.is_empty() && global.is_empty() {
        return;
    }
    let named = |ids: &[&str], d: &Diagnostic| {
        let rule = RULES.iter().find(|r| r.code == d.code);
        ids.iter().any(|id| rule.is_some_and(|r| r.is_named(id)) || d.code.eq_ignore_ascii_case(id))
    };
    out.retain(|d| {
        if named(&global, d) {
            return false;
        }
        let start = dockerfile
            .instructions
            .iter()
            .find(|i| {
                i.span.start <= d.range.start && d.range.start <= i.span.end.max(i.span.start)
            })
            .map(|i| i.start_line);
        let Some(start) = start else { return true };
        let mut line = start;
        while line > 1 && comment_lines.contains(&(line - 1)) {
            line -= 1;
            if by_line.get(&line).is_some_and(|ids| named(ids, d)) {
                return false;
            }
        }
        true
    });
}
