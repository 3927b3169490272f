//! Image references of FROM lines, split as the distribution spec does.

use rbuild_syntax::{Arg, Arguments, Keyword};

use crate::context::Context;

/// `registry/name:tag@digest`, borrowed from the FROM argument.
pub(super) struct ImageRef<'a> {
    pub(super) tag: Option<&'a str>,
    pub(super) digest: Option<&'a str>,
}

pub(super) fn split(reference: &str) -> ImageRef<'_> {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    // A `:` after the last `/` separates the tag; before it, a registry port.
    let last = rest.rfind('/').map_or(0, |i| i + 1);
    let tag = rest[last..].split_once(':').map(|(_, tag)| tag);
    ImageRef { tag, digest }
}

/// The FROM images that are neither `scratch`, an earlier stage, nor built
/// from variables.
pub(super) fn external_images<'c>(
    cx: &'c Context<'_>,
) -> impl Iterator<Item = (ImageRef<'c>, &'c Arg)> {
    cx.stages().iter().filter(|s| s.base_stage.is_none()).filter_map(|s| {
        let inst = &cx.instructions()[s.from];
        debug_assert_eq!(inst.kind, Keyword::From);
        let Arguments::Values(args) = &inst.args else { return None };
        let arg = args.first()?;
        let image = arg.value.as_str();
        if image.eq_ignore_ascii_case("scratch") || image.contains('$') {
            return None;
        }
        Some((split(image), arg))
    })
}
