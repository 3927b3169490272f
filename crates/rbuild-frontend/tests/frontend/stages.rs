//! Stages, `--target`, what the target needs, ONBUILD triggers.

use rbuild_frontend::{Base, Op, StageRef};
use rbuild_llb::ContainerConfig;

use crate::util::{err_with, opts, plan, plan_with, steps, store, try_plan_with};

const MULTI: &str = "\
FROM busybox AS Build
RUN make
FROM build AS test
RUN make test
FROM alpine AS unused
RUN echo never
FROM scratch AS final
COPY --from=BUILD /out /out
";

#[test]
fn default_target_is_the_last_stage_and_only_needed_stages_are_planned() {
    let p = plan(MULTI);
    assert_eq!(p.target, 3);
    assert_eq!(p.stages.len(), 4);
    let needed: Vec<bool> = p.stages.iter().map(|s| s.needed).collect();
    assert_eq!(needed, [true, false, false, true]);
    // A stage nobody needs is not planned.
    assert!(p.stages[2].steps.is_empty());
    assert_eq!(p.stages[3].base, Base::Scratch);
    let Op::Copy { from, .. } = &steps(&p)[0].op else { panic!() };
    assert_eq!(from, &Some(StageRef::Stage(0)));
}

#[test]
fn stage_names_are_case_insensitive_and_lower_cased() {
    let p = plan(MULTI);
    assert_eq!(p.stages[0].name.as_deref(), Some("build"));
    assert_eq!(p.stages[1].base, Base::Stage(0));
}

#[test]
fn target_selects_a_stage_by_name_in_any_case() {
    let mut o = opts();
    o.target = Some("TEST".into());
    let p = plan_with(MULTI, &o);
    assert_eq!(p.target, 1);
    let needed: Vec<bool> = p.stages.iter().map(|s| s.needed).collect();
    assert_eq!(needed, [true, true, false, false]);
    // The stage built FROM another starts from its state.
    assert_eq!(p.stages[1].steps.len(), 1);
}

#[test]
fn unknown_target_is_an_error_naming_the_stages() {
    let mut o = opts();
    o.target = Some("nope".into());
    let e = err_with(MULTI, &o);
    assert!(e.message().contains("\"nope\" could not be found"), "{}", e.message());
    assert!(e.message().contains("build, test, unused, final"), "{}", e.message());
}

#[test]
fn copy_from_an_index_and_mount_from_a_stage_make_stages_needed() {
    let src = "\
FROM busybox
RUN one
FROM busybox AS two
RUN two
FROM busybox AS three
RUN three
FROM busybox
COPY --from=0 /a /a
RUN --mount=type=bind,from=two,target=/t true
";
    let p = plan(src);
    let needed: Vec<bool> = p.stages.iter().map(|s| s.needed).collect();
    assert_eq!(needed, [true, true, false, true]);
    let Op::Run { mounts, .. } = &steps(&p)[1].op else { panic!() };
    assert_eq!(mounts[0].from, Some(StageRef::Stage(1)));
}

#[test]
fn copy_from_an_image_names_the_normalized_reference() {
    let p = plan("FROM scratch\nCOPY --from=alpine /etc/os-release /\n");
    let Op::Copy { from, .. } = &steps(&p)[0].op else { panic!() };
    assert_eq!(from, &Some(StageRef::Image("docker.io/library/alpine:latest".into())));
}

#[test]
fn copy_from_a_later_stage_is_an_error() {
    let src = "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nFROM a\n";
    let e = try_plan_with(src, &opts(), &store()).unwrap_err();
    assert!(e.message().contains("needs to be defined before current stage"), "{}", e.message());
    assert_eq!(e.span().line, 2);
}

#[test]
fn base_image_config_is_inherited() {
    let p = plan("FROM alpine\nRUN env\n");
    assert_eq!(p.stages[0].base, Base::Image("docker.io/library/alpine:latest".into()));
    let config = &p.stages[0].config;
    assert_eq!(config.env, ["PATH=/alpine/bin"]);
    assert_eq!(config.cmd, ["/bin/sh"]);
    let Op::Run { env, .. } = &steps(&p)[0].op else { panic!() };
    assert_eq!(env, &["PATH=/alpine/bin"]);
}

#[test]
fn default_path_when_the_base_has_none() {
    for src in ["FROM busybox\nRUN env\n", "FROM scratch\nRUN env\n"] {
        let p = plan(src);
        let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        let Op::Run { env, cwd, user, .. } = &steps(&p)[0].op else { panic!() };
        assert_eq!(env, &[path]);
        assert_eq!((cwd.as_str(), user.as_str()), ("/", ""));
        assert_eq!(p.stages[0].config.env, [path]);
    }
}

#[test]
fn base_image_user_and_workdir_apply_to_run() {
    let mut s = store();
    s.0.insert(
        "docker.io/library/app:1".into(),
        ContainerConfig {
            user: "app".into(),
            working_dir: "/srv/".into(),
            ..ContainerConfig::default()
        },
    );
    let p = try_plan_with("FROM app:1\nRUN pwd\n", &opts(), &s).unwrap();
    let Op::Run { cwd, user, .. } = &steps(&p)[0].op else { panic!() };
    // The base's WorkingDir as written, as BuildKit takes it (docker 26.1:
    // a child of `WORKDIR /srv/` keeps "/srv/").
    assert_eq!((cwd.as_str(), user.as_str()), ("/srv/", "app"));
    assert_eq!(p.stages[0].config.working_dir, "/srv/");
}

#[test]
fn onbuild_triggers_of_a_base_stage_run_first_and_are_not_inherited_further() {
    let src = "\
FROM busybox AS base
ONBUILD RUN echo triggered
ONBUILD ENV FROM_TRIGGER=1
RUN echo base
FROM base AS child
RUN echo child
FROM child
RUN echo grandchild
";
    let p = plan(src);
    assert_eq!(p.stages[0].config.on_build, ["RUN echo triggered", "ENV FROM_TRIGGER=1"]);
    let child = &p.stages[1];
    assert_eq!(child.steps.len(), 3);
    assert_eq!(child.steps[0].line, 5, "a trigger is reported at the FROM that runs it");
    assert_eq!(child.steps[0].text, "ONBUILD RUN echo triggered");
    let Op::Run { args, .. } = &child.steps[0].op else { panic!() };
    assert_eq!(args[2], "echo triggered");
    assert!(child.config.on_build.is_empty());
    assert!(child.config.env.contains(&"FROM_TRIGGER=1".to_owned()));
    // The grandchild runs none of them.
    assert_eq!(p.stages[2].steps.len(), 1);
}

#[test]
fn onbuild_triggers_of_a_base_image_run_and_can_add_stage_dependencies() {
    let mut s = store();
    s.0.insert(
        "docker.io/library/onbuild:latest".into(),
        ContainerConfig {
            on_build: vec!["COPY --from=assets /a /a".into(), "RUN make".into()],
            ..ContainerConfig::default()
        },
    );
    let src = "FROM busybox AS assets\nRUN gen\nFROM onbuild\nRUN done\n";
    let p = try_plan_with(src, &opts(), &s).unwrap();
    assert!(p.stages[0].needed, "the trigger's COPY --from needs stage 0");
    let final_steps = &p.stages[1].steps;
    assert_eq!(final_steps.len(), 3);
    let Op::Copy { from, .. } = &final_steps[0].op else { panic!() };
    assert_eq!(from, &Some(StageRef::Stage(0)));
    assert!(p.stages[1].config.on_build.is_empty());
}

#[test]
fn from_an_image_not_in_the_store_names_rbuild_load() {
    let e = try_plan_with("FROM nginx:1.27\n", &opts(), &store()).unwrap_err();
    assert!(e.message().contains("docker.io/library/nginx:1.27"), "{}", e.message());
    assert!(e.message().contains("rbuild load"), "{}", e.message());
    assert_eq!((e.span().line, e.span().column), (1, 1));
}

#[test]
fn an_unneeded_stage_may_use_a_missing_image() {
    let p = plan("FROM nginx AS x\nFROM busybox\n");
    assert!(!p.stages[0].needed);
}

#[test]
fn copy_from_an_image_not_in_the_store_points_at_the_flag() {
    let e =
        try_plan_with("FROM busybox\nCOPY --from=nginx /a /a\n", &opts(), &store()).unwrap_err();
    assert!(e.message().contains("rbuild load"), "{}", e.message());
    assert_eq!((e.span().line, e.span().column), (2, 6));
}

#[test]
fn parser_warnings_are_passed_on() {
    let p = plan("FROM busybox\nRUN a \\\n\n    b\n");
    assert_eq!(p.warnings.len(), 1);
    assert_eq!(p.warnings[0].span.map(|s| s.line), Some(3));
}

#[test]
fn copy_from_scratch_needs_no_image() {
    let p = plan("FROM busybox\nCOPY --from=scratch / /\n");
    let Op::Copy { from, .. } = &steps(&p)[0].op else { panic!() };
    assert_eq!(from, &Some(StageRef::Scratch));
}

#[test]
fn from_takes_stage_names_only_not_indexes_as_buildkit_does() {
    // BuildKit resolves `FROM 0` as the image `docker.io/library/0:latest`;
    // indexes name stages only in `COPY --from` and `--mount from=`.
    let e = try_plan_with("FROM busybox\nFROM 0\n", &opts(), &store()).unwrap_err();
    assert!(e.message().contains("docker.io/library/0:latest"), "{}", e.message());
}

#[test]
fn a_broken_onbuild_trigger_of_an_image_fails_at_the_from() {
    let mut s = store();
    s.0.insert(
        "docker.io/library/bad:latest".into(),
        ContainerConfig { on_build: vec!["COPY --bogus a b".into()], ..ContainerConfig::default() },
    );
    let e = try_plan_with("FROM busybox\nRUN x\nFROM bad\n", &opts(), &s).unwrap_err();
    assert_eq!(e.message(), "unknown flag: bogus");
    assert_eq!(e.span().line, 3);
}

#[test]
fn platform_comes_from_the_flag_or_the_base_stage() {
    let src = "FROM --platform=linux/arm64 busybox AS a\nFROM --platform=linux/s390x a\n";
    let p = plan(src);
    assert_eq!(p.stages[0].platform.to_string(), "linux/arm64");
    assert_eq!(p.stages[1].platform.to_string(), "linux/arm64");
    let e = crate::util::err("FROM --platform=linux busybox\n");
    assert!(e.message().contains("failed to parse platform"), "{}", e.message());
}

#[test]
fn oci_layout_references_reach_the_store_as_written() {
    let mut s = store();
    s.0.insert("oci-layout://./img:v1".into(), ContainerConfig::default());
    let p = try_plan_with("FROM oci-layout://./img:v1\n", &opts(), &s).unwrap();
    assert_eq!(p.stages[0].base, Base::Image("oci-layout://./img:v1".into()));
}
