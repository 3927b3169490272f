//! Errors carry the line and column of what is wrong.

use crate::util::{err, opts, store, try_plan_with, with_args};

fn at(src: &str) -> (String, usize, usize) {
    let e = err(src);
    (e.message().to_owned(), e.span().line, e.span().column)
}

#[test]
fn unknown_flags_point_at_the_flag() {
    let (m, line, col) = at("FROM busybox\nCOPY --frm=a x y\n");
    assert_eq!((m.as_str(), line, col), ("unknown flag: frm", 2, 6));
    let (m, ..) = at("FROM busybox\nENV --x=1 A=b\n");
    assert_eq!(m, "unknown flag: x");
    let (m, ..) = at("FROM busybox\nCOPY --from=a --from=b x y\n");
    assert_eq!(m, "duplicate flag specified: from");
    let (m, ..) = at("FROM busybox\nCOPY --link=maybe x y\n");
    assert!(m.contains("expecting boolean value for flag link"), "{m}");
    let (m, ..) = at("FROM busybox\nCOPY --from x y\n");
    assert_eq!(m, "missing a value on flag: from");
}

#[test]
fn flags_are_checked_in_stages_nobody_needs() {
    let (m, line, _) = at("FROM busybox AS unused\nRUN --bogus x\nFROM busybox\n");
    assert_eq!((m.as_str(), line), ("unknown flag: bogus", 2));
}

#[test]
fn onbuild_restrictions() {
    let (m, line, col) = at("FROM busybox\nONBUILD ONBUILD RUN x\n");
    assert_eq!(m, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    assert_eq!((line, col), (2, 9));
    assert_eq!(
        at("FROM busybox\nONBUILD FROM alpine\n").0,
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        at("FROM busybox\nONBUILD MAINTAINER me\n").0,
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
}

#[test]
fn empty_base_name_after_expansion() {
    let (m, line, col) = at("ARG IMG\nFROM $IMG AS x\n");
    assert_eq!((m.as_str(), line, col), ("base name ($IMG) should not be blank", 2, 6));
    // A build arg fills it.
    let p =
        try_plan_with("ARG IMG\nFROM $IMG\n", &with_args(&[("IMG", Some("busybox"))]), &store());
    assert!(p.is_ok());
}

#[test]
fn unknown_instruction_and_instructions_before_from() {
    assert_eq!(at("FROM busybox\nFOO bar\n").0, "unknown instruction: FOO");
    assert_eq!(at("RUN x\nFROM busybox\n").0, "no build stage in current context");
}

#[test]
fn stage_name_checks() {
    assert_eq!(
        at("FROM busybox AS 1X\n").0,
        "invalid name for build stage: \"1X\", name can't start with a number or contain symbols"
    );
    assert_eq!(at("FROM busybox\nARG =x\n").0, "ARG names can not be blank");
    assert_eq!(at("FROM busybox\nENV =x\n").0, "ENV names can not be blank");
    assert_eq!(at("FROM busybox\nLABEL a=b =c\n").0, "LABEL names can not be blank");
    assert!(at("FROM busybox AS\n").0.contains("either one or three arguments"));
}

#[test]
fn expansion_errors_name_the_word() {
    let (m, line, _) = at("FROM busybox\nENV X=\"${NOPE:?must be set}\"\n");
    assert!(m.contains("NOPE: must be set"), "{m}");
    assert_eq!(line, 2);
}

#[test]
fn render_draws_a_code_frame() {
    let src = "FROM busybox\nCOPY --frm=a x y\n";
    let e = try_plan_with(src, &opts(), &store()).unwrap_err();
    let text = e.render("Dockerfile", src, false);
    assert!(text.contains("Dockerfile:2:6: unknown flag: frm"), "{text}");
    assert!(text.contains("COPY --frm=a x y"), "{text}");
    assert!(text.contains('^'), "{text}");
}

#[test]
fn duplicate_stage_names_warn_and_the_later_stage_wins() {
    let src = "FROM busybox AS a\nFROM alpine AS A\nFROM busybox\nCOPY --from=a / /\n";
    let p = try_plan_with(src, &opts(), &store()).unwrap();
    assert!(p.warnings.iter().any(|w| w.message.contains("duplicate stage name")));
    let needed: Vec<bool> = p.stages.iter().map(|s| s.needed).collect();
    assert_eq!(needed, [false, true, true]);
}

#[test]
fn argument_counts_are_checked_in_every_stage() {
    for (src, message) in [
        ("FROM busybox AS x\nCOPY a\nFROM busybox\n", "COPY requires at least two arguments"),
        ("FROM busybox AS x\nWORKDIR\nFROM busybox\n", "WORKDIR requires exactly one argument"),
        ("FROM busybox AS x\nEXPOSE\nFROM busybox\n", "EXPOSE requires at least one argument"),
        ("FROM busybox AS x\nSHELL sh -c\nFROM busybox\n", "SHELL requires the arguments"),
    ] {
        let (m, line, _) = at(src);
        assert!(m.starts_with(message), "{src}: {m}");
        assert_eq!(line, 2, "{src}");
    }
}
