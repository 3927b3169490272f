//! What the yum, dnf and zypper rules share: an install without the matching
//! clean in the same RUN.

use super::{is_subcommand, removes, runs};
use crate::context::Context;
use crate::rule::Findings;

/// One package manager: its programs, the subcommands that download, the
/// subcommands that clean, and its cache directory.
pub(super) struct Manager {
    pub(super) programs: &'static [&'static str],
    pub(super) installs: &'static [&'static str],
    pub(super) cleans: &'static [&'static str],
    pub(super) cache: &'static str,
    pub(super) help: &'static str,
}

pub(super) fn check(cx: &Context<'_>, out: &mut Findings<'_>, m: &Manager) {
    for (i, _, script) in runs(cx) {
        if cx.mounts_cache_at(i, m.cache) || removes(script, m.cache) {
            continue;
        }
        let cleaned = script.commands.iter().any(|c| is_subcommand(c, m.programs, m.cleans, &[]));
        if cleaned {
            continue;
        }
        if let Some(cmd) =
            script.commands.iter().find(|c| is_subcommand(c, m.programs, m.installs, &[]))
        {
            let program = cmd.program().unwrap_or_default();
            out.add(cmd.range(), format!("the {program} cache stays in the layer")).help(m.help);
        }
    }
}
