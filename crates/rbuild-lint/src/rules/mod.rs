//! Every rule, one file each, and the helpers several of them share.

mod add_instead_of_copy;
mod apk_cache_kept;
mod apt_get_upgrade;
mod apt_install_recommends;
mod apt_lists_not_removed;
mod background_service;
mod consecutive_run;
mod deleted_in_later_layer;
mod dnf_cache_kept;
mod image_ref;
mod json_args_recommended;
mod latest_tag;
mod maintainer_deprecated;
mod pip_cache_kept;
mod pkg_clean;
mod remote_archive_extracted;
mod root_user_last;
mod run_cd;
mod secret_in_arg_env;
mod sudo_in_run;
pub(crate) mod syntax_error;
mod untagged_image;
pub(crate) mod vars;
mod yum_cache_kept;
mod zypper_cache_kept;

mod consistent_instruction_casing;
mod duplicate_stage_name;
mod expose_invalid_format;
mod expose_proto_casing;
mod from_as_casing;
mod from_platform_flag_const;
mod invalid_default_arg_in_from;
mod legacy_key_value_format;
mod multiple_instructions;
mod no_empty_continuation;
mod redundant_target_platform;
mod reserved_stage_name;
mod stage_name_casing;
mod undefined_arg_in_from;
mod undefined_var;
mod workdir_relative_path;

use rbuild_syntax::{Instruction, Keyword};

use crate::context::{Context, path_within};
use crate::rule::Rule;
use crate::script::{Command, Script};

/// Every rule, in code order.
pub static RULES: &[&Rule] = &[
    &syntax_error::RULE,
    &run_cd::RULE,
    &sudo_in_run::RULE,
    &background_service::RULE,
    &apt_lists_not_removed::RULE,
    &consecutive_run::RULE,
    &apt_install_recommends::RULE,
    &apk_cache_kept::RULE,
    &pip_cache_kept::RULE,
    &yum_cache_kept::RULE,
    &dnf_cache_kept::RULE,
    &zypper_cache_kept::RULE,
    &apt_get_upgrade::RULE,
    &deleted_in_later_layer::RULE,
    &add_instead_of_copy::RULE,
    &remote_archive_extracted::RULE,
    &untagged_image::RULE,
    &latest_tag::RULE,
    &maintainer_deprecated::RULE,
    &json_args_recommended::RULE,
    &root_user_last::RULE,
    &secret_in_arg_env::RULE,
    &stage_name_casing::RULE,
    &from_as_casing::RULE,
    &no_empty_continuation::RULE,
    &consistent_instruction_casing::RULE,
    &duplicate_stage_name::RULE,
    &reserved_stage_name::RULE,
    &undefined_arg_in_from::RULE,
    &workdir_relative_path::RULE,
    &undefined_var::RULE,
    &multiple_instructions::RULE,
    &legacy_key_value_format::RULE,
    &redundant_target_platform::RULE,
    &invalid_default_arg_in_from::RULE,
    &from_platform_flag_const::RULE,
    &expose_proto_casing::RULE,
    &expose_invalid_format::RULE,
];

/// The RUN instructions with their scripts.
fn runs<'c>(cx: &'c Context<'_>) -> impl Iterator<Item = (usize, &'c Instruction, &'c Script)> {
    cx.instructions()
        .iter()
        .enumerate()
        .filter(|(_, inst)| inst.kind == Keyword::Run)
        .filter_map(|(i, inst)| Some((i, inst, cx.script(i)?)))
}

/// Whether what instruction `index` writes ends up in the final image.
fn shipped(cx: &Context<'_>, index: usize) -> bool {
    cx.stage_of(index).is_none_or(|s| s.shipped)
}

/// The path arguments of an `rm`, with a trailing `/*` or `*` dropped.
fn rm_targets(cmd: &Command) -> Vec<&str> {
    if !cmd.is("rm") {
        return Vec::new();
    }
    cmd.args()
        .iter()
        .map(|w| w.text.as_str())
        .filter(|t| !t.starts_with('-'))
        .map(|t| t.trim_end_matches('*').trim_end_matches('/'))
        .map(|t| if t.is_empty() { "/" } else { t })
        .collect()
}

/// Whether the script deletes `dir` (or a directory above it), with `rm`
/// or `find dir … -delete`.
fn removes(script: &Script, dir: &str) -> bool {
    script.commands.iter().any(|cmd| {
        rm_targets(cmd).iter().any(|t| path_within(dir, t))
            || (cmd.is("find")
                && cmd.has_arg("-delete")
                && cmd.args().first().is_some_and(|w| path_within(&w.text, dir)))
    })
}

/// A package-manager command with the given subcommand (`apt-get install`).
fn is_subcommand(
    cmd: &Command,
    programs: &[&str],
    subcommands: &[&str],
    with_value: &[&str],
) -> bool {
    cmd.program().is_some_and(|p| programs.contains(&p))
        && cmd.subcommand(with_value).is_some_and(|w| subcommands.contains(&w.text.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.code), "{} twice", rule.code);
            assert!(seen.insert(rule.name), "{} twice", rule.name);
            assert!(rule.code.len() == 5 && rule.code.starts_with("RB"), "{}", rule.code);
            assert!(
                rule.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{} is not kebab-case",
                rule.name
            );
            for section in ["## What it does", "## Why is this bad", "## Example", "## Use instead"]
            {
                assert!(rule.docs.contains(section), "{} lacks {section}", rule.code);
            }
            assert!(!rule.summary.is_empty() && !rule.summary.ends_with('.'), "{}", rule.code);
        }
        let mut sorted: Vec<_> = RULES.iter().map(|r| r.code).collect();
        sorted.sort_unstable();
        assert_eq!(sorted, RULES.iter().map(|r| r.code).collect::<Vec<_>>(), "RULES in code order");
    }
}
