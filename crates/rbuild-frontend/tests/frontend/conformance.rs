//! Every Dockerfile of the real-world corpus plans, with any base image.

use rbuild_frontend::BaseImages;
use rbuild_llb::ContainerConfig;

use crate::util::opts;

struct AnyImage;

impl BaseImages for AnyImage {
    fn config(&self, _: &str) -> Option<ContainerConfig> {
        Some(ContainerConfig::default())
    }
}

#[test]
fn real_world_dockerfiles_plan() {
    let Some(root) = rbuild_test::conformance("real-world") else { return };
    let mut count = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let path = dir.join("Dockerfile");
        if !path.is_file() {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let df = rbuild_syntax::parse(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        count += 1;
        // youki's cross image gets its base from cross-rs as a build arg.
        let mut o = opts();
        o.build_args.insert("CROSS_BASE_IMAGE".into(), Some("ubuntu:24.04".into()));
        match rbuild_frontend::plan(&df, &src, &o, &AnyImage) {
            Ok(plan) => {
                assert!(plan.stages[plan.target].needed, "{name}");
                assert!(!plan.stages[plan.target].config.env.is_empty(), "{name}: PATH");
            }
            Err(e) => failures.push(e.render(&name, &src, false)),
        }
    }
    assert_eq!(count, 66);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// BuildKit's parser fixtures, which hold every instruction in odd forms:
/// planning each one ends in a plan or an error with a place, never a panic.
#[test]
fn buildkit_parser_fixtures_plan_or_fail_cleanly() {
    let Some(root) = rbuild_test::conformance("buildkit-parser/positive") else { return };
    let mut planned = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path().join("Dockerfile");
        let Ok(src) = std::fs::read_to_string(&path) else { continue };
        let Ok(df) = rbuild_syntax::parse(&src) else { continue };
        match rbuild_frontend::plan(&df, &src, &opts(), &AnyImage) {
            Ok(_) => planned += 1,
            Err(e) => assert!(e.span().line >= 1, "{}: {e}", path.display()),
        }
    }
    assert!(planned > 20, "only {planned} fixtures planned");
}
