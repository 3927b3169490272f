//! A store of base images and shorthands for planning a Dockerfile.

use std::collections::BTreeMap;

use rbuild_frontend::{BaseImages, BuildOptions, FrontendError, Op, Plan, Step};
use rbuild_llb::ContainerConfig;
use rbuild_llb::Platform;

/// Base images by normalized reference.
pub(crate) struct Store(pub(crate) BTreeMap<String, ContainerConfig>);

impl BaseImages for Store {
    fn config(&self, reference: &str) -> Option<ContainerConfig> {
        self.0.get(reference).cloned()
    }
}

/// `alpine` with a PATH, a workdir-less config and a field the config type
/// does not know; `busybox` with nothing.
pub(crate) fn store() -> Store {
    let mut images = BTreeMap::new();
    images.insert(
        "docker.io/library/alpine:latest".to_owned(),
        ContainerConfig {
            env: vec!["PATH=/alpine/bin".to_owned()],
            cmd: vec!["/bin/sh".to_owned()],
            extra: [("Hostname".to_owned(), serde_json::json!("alpine-builder"))].into(),
            ..ContainerConfig::default()
        },
    );
    images.insert("docker.io/library/busybox:latest".to_owned(), ContainerConfig::default());
    Store(images)
}

pub(crate) fn opts() -> BuildOptions {
    BuildOptions {
        platform: Platform { os: "linux".into(), arch: "amd64".into(), variant: String::new() },
        ..BuildOptions::default()
    }
}

pub(crate) fn try_plan_with(
    src: &str,
    opts: &BuildOptions,
    store: &Store,
) -> Result<Plan, FrontendError> {
    let df = rbuild_syntax::parse(src).expect("parses");
    rbuild_frontend::plan(&df, src, opts, store)
}

pub(crate) fn plan_with(src: &str, opts: &BuildOptions) -> Plan {
    try_plan_with(src, opts, &store())
        .unwrap_or_else(|e| panic!("{}", e.render("Dockerfile", src, false)))
}

pub(crate) fn plan(src: &str) -> Plan {
    plan_with(src, &opts())
}

pub(crate) fn err(src: &str) -> FrontendError {
    err_with(src, &opts())
}

pub(crate) fn err_with(src: &str, opts: &BuildOptions) -> FrontendError {
    try_plan_with(src, opts, &store()).expect_err("should fail")
}

pub(crate) fn with_args(pairs: &[(&str, Option<&str>)]) -> BuildOptions {
    let mut o = opts();
    for (k, v) in pairs {
        o.build_args.insert((*k).to_owned(), v.map(str::to_owned));
    }
    o
}

/// The steps of the target stage.
pub(crate) fn steps(plan: &Plan) -> &[Step] {
    &plan.stages[plan.target].steps
}

/// The env of the `n`th RUN of the target stage.
pub(crate) fn run_env(plan: &Plan, n: usize) -> Vec<String> {
    runs(plan)[n].1.clone()
}

/// (args, env) of each RUN of the target stage.
pub(crate) fn runs(plan: &Plan) -> Vec<(Vec<String>, Vec<String>)> {
    steps(plan)
        .iter()
        .filter_map(|s| match &s.op {
            Op::Run { args, env, .. } => Some((args.clone(), env.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn env_value(env: &[String], key: &str) -> Option<String> {
    env.iter().rev().find_map(|e| {
        let (k, v) = e.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}
