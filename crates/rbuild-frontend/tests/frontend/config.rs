//! The image config each stage ends with, and its JSON shape.

use rbuild_frontend::Op;
use rbuild_llb::{ContainerConfig, Healthcheck};

use crate::util::{err, plan, runs, steps};

fn config(src: &str) -> ContainerConfig {
    let p = plan(src);
    p.stages[p.target].config.clone()
}

#[test]
fn workdir_is_relative_to_the_previous_one_and_expanded() {
    let src = "FROM busybox\nENV D=/srv\nWORKDIR $D\nWORKDIR app/../web\nWORKDIR /\nRUN pwd\n";
    let p = plan(src);
    let s = steps(&p);
    assert!(matches!(&s[1].op, Op::Workdir { path, .. } if path == "/srv"));
    assert!(matches!(&s[2].op, Op::Workdir { path, .. } if path == "/srv/web"));
    assert!(matches!(&s[3].op, Op::Config), "WORKDIR / makes no directory");
    assert_eq!(s[2].history.as_deref(), Some("WORKDIR /srv/web"));
    let Op::Run { cwd, .. } = &s[4].op else { panic!() };
    assert_eq!(cwd, "/");
    assert_eq!(p.stages[0].config.working_dir, "/");
}

#[test]
fn fields_of_the_base_config_the_type_does_not_know_are_kept() {
    let c = config("FROM alpine\nENV X=1\nLABEL a=b\n");
    assert_eq!(c.extra["Hostname"], "alpine-builder");
    assert_eq!(c.env, ["PATH=/alpine/bin", "X=1"]);
}

#[test]
fn workdir_directories_belong_to_the_user_in_force() {
    let p = plan("FROM busybox\nUSER app\nWORKDIR /home/app\n");
    assert!(matches!(&steps(&p)[1].op, Op::Workdir { user, .. } if user == "app"));
}

#[test]
fn shell_form_is_wrapped_in_the_shell_and_json_form_is_not() {
    let src = "\
FROM busybox
RUN echo $HOME
RUN [\"echo\", \"$HOME\"]
SHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]
RUN echo hi
CMD echo cmd
";
    let p = plan(src);
    let r = runs(&p);
    assert_eq!(r[0].0, ["/bin/sh", "-c", "echo $HOME"], "RUN text is not expanded");
    assert_eq!(r[1].0, ["echo", "$HOME"]);
    assert_eq!(r[2].0, ["/bin/bash", "-eo", "pipefail", "-c", "echo hi"]);
    let c = &p.stages[0].config;
    assert_eq!(c.cmd, ["/bin/bash", "-eo", "pipefail", "-c", "echo cmd"]);
    assert_eq!(c.shell, ["/bin/bash", "-eo", "pipefail", "-c"]);
}

#[test]
fn entrypoint_resets_an_inherited_cmd_but_not_one_set_in_the_stage() {
    // alpine's config has Cmd ["/bin/sh"].
    let c = config("FROM alpine\nENTRYPOINT [\"/app\"]\n");
    assert_eq!(c.entrypoint, ["/app"]);
    assert!(c.cmd.is_empty());
    let c = config("FROM alpine\nCMD [\"--help\"]\nENTRYPOINT [\"/app\"]\n");
    assert_eq!(c.cmd, ["--help"]);
    let c = config("FROM alpine\nENTRYPOINT /app run\nCMD [\"x\"]\n");
    assert_eq!(c.entrypoint, ["/bin/sh", "-c", "/app run"]);
    assert_eq!(c.cmd, ["x"]);
    // Only the last CMD counts.
    let c = config("FROM alpine\nCMD [\"a\"]\nCMD [\"b\"]\n");
    assert_eq!(c.cmd, ["b"]);
}

#[test]
fn entrypoint_in_a_child_stage_resets_the_cmd_set_in_its_base_stage() {
    let c = config("FROM busybox AS a\nCMD [\"x\"]\nFROM a\nENTRYPOINT [\"/e\"]\n");
    assert!(c.cmd.is_empty());
}

#[test]
fn healthcheck_in_dockers_shape() {
    let c = config(
        "FROM busybox\nHEALTHCHECK --interval=30s --timeout=1m30s --start-period=5s \
         --start-interval=500ms --retries=4 CMD curl -f http://localhost/\n",
    );
    assert_eq!(
        c.healthcheck,
        Some(Healthcheck {
            test: vec!["CMD-SHELL".into(), "curl -f http://localhost/".into()],
            interval: 30_000_000_000,
            timeout: 90_000_000_000,
            start_period: 5_000_000_000,
            start_interval: 500_000_000,
            retries: 4,
        })
    );
    let c = config("FROM busybox\nHEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n");
    assert_eq!(c.healthcheck.unwrap().test, ["CMD", "/bin/check", "-q"]);
    // NONE ignores flags, as BuildKit reads them for CMD only.
    let c = config("FROM busybox\nHEALTHCHECK CMD true\nHEALTHCHECK --interval=5s NONE\n");
    assert_eq!(c.healthcheck.unwrap().test, ["NONE"]);
    let json = serde_json::to_value(config(
        "FROM busybox\nHEALTHCHECK --interval=1s --retries=2 CMD [\"t\"]\n",
    ))
    .unwrap();
    assert_eq!(
        json["Healthcheck"],
        serde_json::json!({"Test": ["CMD", "t"], "Interval": 1_000_000_000i64, "Retries": 2})
    );
}

#[test]
fn healthcheck_errors() {
    assert!(err("FROM busybox\nHEALTHCHECK --interval=1 CMD x\n").message().contains("duration"));
    assert!(
        err("FROM busybox\nHEALTHCHECK --interval=10us CMD x\n")
            .message()
            .contains("cannot be less than 1ms")
    );
    assert!(err("FROM busybox\nHEALTHCHECK --retries=-1 CMD x\n").message().contains("negative"));
    assert!(err("FROM busybox\nHEALTHCHECK WHAT x\n").message().contains("Unknown type"));
    assert!(err("FROM busybox\nHEALTHCHECK NONE x\n").message().contains("no arguments"));
}

#[test]
fn expose_normalizes_protocols_and_ranges() {
    let c = config("FROM busybox\nENV P=8080\nEXPOSE 80 443/TCP $P/udp 9000-9002\n");
    let ports: Vec<&str> = c.exposed_ports.keys().map(String::as_str).collect();
    assert_eq!(ports, ["443/tcp", "80/tcp", "8080/udp", "9000/tcp", "9001/tcp", "9002/tcp"]);
    assert!(err("FROM busybox\nEXPOSE 80/icmp\n").message().contains("invalid proto"));
    assert!(err("FROM busybox\nEXPOSE http\n").message().contains("invalid containerPort"));
}

#[test]
fn labels_volumes_user_stopsignal_are_expanded() {
    let c = config(
        "FROM busybox\nENV V=1.2 U=app D=/data\nLABEL version=$V \"with space\"=\"a b\"\n\
         VOLUME $D /x\nVOLUME [\"/json\"]\nUSER $U:$U\nSTOPSIGNAL SIGKILL\n",
    );
    assert_eq!(c.labels["version"], "1.2");
    assert_eq!(c.labels["with space"], "a b");
    let volumes: Vec<&str> = c.volumes.keys().map(String::as_str).collect();
    assert_eq!(volumes, ["/data", "/json", "/x"]);
    assert_eq!(c.user, "app:app");
    assert_eq!(c.stop_signal, "SIGKILL");
    assert!(err("FROM busybox\nSTOPSIGNAL SIGNOPE\n").message().contains("Invalid signal"));
}

#[test]
fn labels_are_inherited_from_the_base_stage() {
    let c = config("FROM busybox AS a\nLABEL a=1\nFROM a\nLABEL b=2\n");
    assert_eq!(c.labels.len(), 2);
}

#[test]
fn maintainer_sets_the_author() {
    let p = plan("FROM busybox\nMAINTAINER Jane <j@example.com>\n");
    assert_eq!(p.stages[0].author.as_deref(), Some("Jane <j@example.com>"));
}

#[test]
fn metadata_instructions_make_no_layer_and_record_history() {
    let p = plan("FROM busybox\nENV A=1\nLABEL l=v\nARG X=2\nONBUILD RUN x\n");
    let s = steps(&p);
    assert!(s.iter().all(|s| matches!(s.op, Op::Config)));
    let h: Vec<Option<&str>> = s.iter().map(|s| s.history.as_deref()).collect();
    assert_eq!(h, [Some("ENV A=1"), Some("LABEL l=v"), Some("ARG X=2"), None]);
}

#[test]
fn config_json_uses_docker_field_names_and_round_trips() {
    let text = r#"{"User":"u","ExposedPorts":{"80/tcp":{}},"Env":["PATH=/bin","A=1"],
        "Entrypoint":["/e"],"Cmd":null,"Volumes":{"/v":{}},"WorkingDir":"/w",
        "Labels":{"k":"v"},"StopSignal":"SIGTERM","ArgsEscaped":true,
        "Healthcheck":{"Test":["NONE"]},"OnBuild":["RUN x"],"Shell":["/bin/bash","-c"],
        "Hostname":"ignored"}"#;
    let config: ContainerConfig = serde_json::from_str(text).unwrap();
    assert_eq!(config.env, ["PATH=/bin", "A=1"]);
    assert!(config.cmd.is_empty());
    assert_eq!(config.on_build, ["RUN x"]);
    let json = serde_json::to_value(&config).unwrap();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "Env",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "Labels",
        "StopSignal",
        "Healthcheck",
        "ArgsEscaped",
        "OnBuild",
        "Shell",
    ] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    assert!(!keys.contains(&"Cmd"));
    let back: ContainerConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back, config);
}

#[test]
fn history_entries_read_as_buildkit_writes_them() {
    let src = "FROM busybox\nHEALTHCHECK --interval=90s CMD check\nCMD [\"a\", \"b c\"]\n\
               ENTRYPOINT run\nEXPOSE 80 53/udp\nVOLUME /v\nSHELL [\"/bin/bash\", \"-c\"]\n\
               USER u\nSTOPSIGNAL SIGTERM\nMAINTAINER me\n";
    let p = plan(src);
    let h: Vec<&str> = steps(&p).iter().filter_map(|s| s.history.as_deref()).collect();
    assert_eq!(
        h,
        [
            "HEALTHCHECK {Test:[CMD-SHELL check] Interval:1m30s Timeout:0s StartPeriod:0s \
             StartInterval:0s Retries:0}",
            "CMD [\"a\" \"b c\"]",
            "ENTRYPOINT [\"/bin/sh\" \"-c\" \"run\"]",
            "EXPOSE [53/udp 80/tcp]",
            "VOLUME [/v]",
            "SHELL [/bin/bash -c]",
            "USER u",
            "STOPSIGNAL SIGTERM",
            "MAINTAINER me",
        ]
    );
}

#[test]
fn build_labels_override_the_dockerfiles_on_the_target_only() {
    let mut o = crate::util::opts();
    o.labels.insert("a".into(), "cli".into());
    let p = crate::util::plan_with("FROM busybox AS base\nLABEL a=df b=df\nFROM base\n", &o);
    let labels = &p.stages[1].config.labels;
    assert_eq!((labels["a"].as_str(), labels["b"].as_str()), ("cli", "df"));
    assert_eq!(p.stages[0].config.labels["a"], "df");
}
