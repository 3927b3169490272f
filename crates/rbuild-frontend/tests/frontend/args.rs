//! ARG/ENV scoping, build args, predefined args.

use rbuild_frontend::{Base, Op};

use crate::util::{env_value, opts, plan, plan_with, run_env, runs, steps, with_args};

#[test]
fn global_args_are_usable_in_from_only() {
    let src = "ARG TAG=latest\nARG IMG=alp\nFROM ${IMG}ine:$TAG\nRUN echo\n";
    let p = plan(src);
    assert_eq!(p.stages[0].base, Base::Image("docker.io/library/alpine:latest".into()));
    assert_eq!(env_value(&run_env(&p, 0), "TAG"), None);
}

#[test]
fn a_global_arg_redeclared_without_value_takes_the_global_value() {
    let src = "ARG V=1\nFROM busybox\nRUN before\nARG V\nRUN after\n";
    let p = plan(src);
    assert_eq!(env_value(&run_env(&p, 0), "V"), None);
    assert_eq!(env_value(&run_env(&p, 1), "V").as_deref(), Some("1"));
}

#[test]
fn build_arg_overrides_global_default_and_stage_default() {
    let src = "ARG V=1\nFROM busybox\nARG V\nARG W=def\nRUN x\n";
    let p = plan_with(src, &with_args(&[("V", Some("2")), ("W", Some("given"))]));
    let env = run_env(&p, 0);
    assert_eq!(env_value(&env, "V").as_deref(), Some("2"));
    assert_eq!(env_value(&env, "W").as_deref(), Some("given"));
}

#[test]
fn build_arg_without_value_takes_the_host_env() {
    let src = "FROM busybox\nARG TOKEN\nARG MISSING\nRUN x\n";
    let mut o = with_args(&[("TOKEN", None), ("MISSING", None)]);
    o.host_env.insert("TOKEN".into(), "from-host".into());
    let p = plan_with(src, &o);
    let env = run_env(&p, 0);
    assert_eq!(env_value(&env, "TOKEN").as_deref(), Some("from-host"));
    assert_eq!(env_value(&env, "MISSING"), None);
}

#[test]
fn arg_is_visible_from_its_line_on_and_in_stages_built_from_its_stage() {
    let src = "\
FROM busybox AS a
RUN early
ARG X=1
RUN late
FROM a AS b
RUN child
FROM busybox
COPY --from=b / /
RUN unrelated
";
    let mut o = opts();
    o.target = Some("b".into());
    let p = plan_with(src, &o);
    let a = &p.stages[0].steps;
    let env_of = |op: &Op| match op {
        Op::Run { env, .. } => env.clone(),
        _ => panic!(),
    };
    assert_eq!(env_value(&env_of(&a[0].op), "X"), None);
    assert_eq!(env_value(&env_of(&a[2].op), "X").as_deref(), Some("1"));
    assert_eq!(env_value(&env_of(&p.stages[1].steps[0].op), "X").as_deref(), Some("1"));
    let p = plan(src);
    assert_eq!(env_value(&run_env(&p, 0), "X"), None, "not in an unrelated stage");
}

#[test]
fn arg_default_expands_earlier_values() {
    let src = "FROM busybox\nENV BASE=/opt\nARG DIR=$BASE/app\nRUN x\n";
    let p = plan(src);
    assert_eq!(env_value(&run_env(&p, 0), "DIR").as_deref(), Some("/opt/app"));
}

#[test]
fn env_after_arg_wins_and_args_stay_out_of_the_image_env() {
    let src = "FROM busybox\nARG V=arg\nENV V=env\nARG ONLY=a\nRUN x\n";
    let p = plan_with(src, &with_args(&[("V", Some("given"))]));
    let env = run_env(&p, 0);
    assert_eq!(env_value(&env, "V").as_deref(), Some("env"));
    assert_eq!(env_value(&env, "ONLY").as_deref(), Some("a"));
    let config = &p.stages[0].config;
    assert_eq!(config.env_value("V"), Some("env"));
    assert_eq!(config.env_value("ONLY"), None);
}

#[test]
fn env_idiom_with_default_from_arg() {
    let src = "FROM busybox\nARG V\nENV V=${V:-fallback}\nRUN x\n";
    assert_eq!(env_value(&run_env(&plan(src), 0), "V").as_deref(), Some("fallback"));
    let p = plan_with(src, &with_args(&[("V", Some("set"))]));
    assert_eq!(p.stages[0].config.env_value("V"), Some("set"));
}

#[test]
fn env_substitutions_in_one_instruction_use_the_old_values() {
    let src = "FROM busybox\nENV abc=hello\nENV abc=bye def=$abc\nRUN x\n";
    let p = plan(src);
    assert_eq!(p.stages[0].config.env_value("def"), Some("hello"));
    assert_eq!(p.stages[0].config.env_value("abc"), Some("bye"));
}

#[test]
fn proxy_args_reach_run_outside_the_cache_env_unless_declared() {
    let src = "FROM busybox\nRUN one\nARG https_proxy\nRUN two\n";
    let o = with_args(&[("HTTP_PROXY", Some("http://p:3128")), ("https_proxy", Some("http://s"))]);
    let p = plan_with(src, &o);
    let proxies: Vec<Vec<String>> = steps(&p)
        .iter()
        .filter_map(|s| match &s.op {
            Op::Run { proxy_env, .. } => Some(proxy_env.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(proxies[0], ["HTTP_PROXY=http://p:3128", "https_proxy=http://s"]);
    assert_eq!(env_value(&run_env(&p, 0), "HTTP_PROXY"), None);
    assert_eq!(env_value(&run_env(&p, 1), "https_proxy").as_deref(), Some("http://s"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn platform_args_are_global_and_need_redeclaring_in_a_stage() {
    let src = "\
FROM --platform=$BUILDPLATFORM busybox AS b
ARG TARGETARCH
ARG TARGETPLATFORM
ARG TARGETSTAGE
RUN echo $TARGETARCH
";
    let p = plan(src);
    let env = run_env(&p, 0);
    assert_eq!(env_value(&env, "TARGETARCH").as_deref(), Some("amd64"));
    assert_eq!(env_value(&env, "TARGETPLATFORM").as_deref(), Some("linux/amd64"));
    assert_eq!(env_value(&env, "TARGETSTAGE").as_deref(), Some("b"));
    assert_eq!(env_value(&env, "BUILDOS"), None);
    assert_eq!(p.stages[0].platform.to_string(), "linux/amd64");
}

#[test]
fn unused_build_arg_is_a_warning() {
    let src = "ARG USED_IN_FROM=busybox\nFROM $USED_IN_FROM\nARG DECLARED\nRUN x\n";
    let o = with_args(&[
        ("USED_IN_FROM", Some("busybox")),
        ("DECLARED", Some("1")),
        ("TYPO", Some("1")),
        ("TARGETARCH", Some("amd64")),
    ]);
    let p = plan_with(src, &o);
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].message.contains("[TYPO]"), "{}", p.warnings[0].message);
}

#[test]
fn run_history_lists_build_args_like_docker_history() {
    let p = plan("FROM busybox\nARG A=1\nRUN make\n");
    assert_eq!(steps(&p)[1].history.as_deref(), Some("RUN |1 A=1 /bin/sh -c make # buildkit"));
    assert_eq!(runs(&p)[0].0, ["/bin/sh", "-c", "make"]);
}

#[test]
fn targetstage_is_the_target_as_given() {
    let src = "FROM busybox AS Build\nARG TARGETSTAGE\nRUN x\nFROM busybox\n";
    let mut o = opts();
    o.target = Some("Build".into());
    let p = plan_with(src, &o);
    assert_eq!(env_value(&run_env(&p, 0), "TARGETSTAGE").as_deref(), Some("Build"));
}

#[test]
fn undefined_variables_are_warnings() {
    let src = "FROM busybox\nARG DECLARED\nENV A=$NOPE B=$DECLARED C=${PATH}\nCOPY $ALSO_NOPE /x\nRUN echo $IN_RUN\n";
    let p = plan(src);
    let messages: Vec<(&str, usize)> =
        p.warnings.iter().map(|w| (w.message.as_str(), w.span.map_or(0, |s| s.line))).collect();
    assert_eq!(
        messages,
        [
            ("Usage of undefined variable '$NOPE'", 3),
            ("Usage of undefined variable '$ALSO_NOPE'", 4)
        ]
    );
}
