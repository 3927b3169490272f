//! The engine as a library: a small Dockerfile built through
//! `rbuild_engine::Engine`, its events read back from a recorder.

use rbuild_engine::{BuildRequest, Engine};
use rbuild_llb::{EventKind, Recorder, StepStatus};

use crate::util::{have_root, tempdir};

#[test]
fn a_library_build_reports_typed_events_and_a_second_one_hits_the_cache() {
    if !have_root() {
        return;
    }
    let dir = tempdir();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY hello.txt /\nLABEL x=y\n").unwrap();
    let engine =
        Engine::open(dir.path().join("store")).unwrap().with_helper(env!("CARGO_BIN_EXE_rbuild"));
    let request = BuildRequest::new(&ctx, ctx.join("Dockerfile")).tag("lib:1");

    let events = Recorder::default();
    let result = engine.build(&request, &events).unwrap();
    let events = events.events();
    let statuses: Vec<(StepStatus, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Step(s) => Some((s.status, s.step.instruction.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (StepStatus::Running, "COPY hello.txt /".to_owned()),
            (StepStatus::Done, "COPY hello.txt /".to_owned())
        ]
    );
    let Some(EventKind::Result(summary)) = events.last().map(|e| &e.kind) else {
        panic!("the last event is the result: {events:?}")
    };
    assert_eq!(summary.manifest, result.manifest);
    assert_eq!(summary.image.as_deref(), Some("lib:1"));
    assert!(events.windows(2).all(|w| w[0].time <= w[1].time), "times only grow");
    assert_eq!(
        engine.store().resolve("docker.io/library/lib:1").as_deref(),
        Some(result.manifest.as_str())
    );

    let again = Recorder::default();
    let second = engine.build(&request, &again).unwrap();
    assert_eq!(second.manifest, result.manifest, "same inputs, same image");
    assert!(second.steps.iter().all(|s| s.cached), "{:?}", second.steps);
}

#[test]
fn a_bad_dockerfile_is_a_typed_error_with_its_place_and_an_error_event() {
    let dir = tempdir();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY --nope a /b\n").unwrap();
    let engine = Engine::open(dir.path().join("store")).unwrap();
    let events = Recorder::default();
    let err = engine.build(&BuildRequest::new(&ctx, ctx.join("Dockerfile")), &events).unwrap_err();
    let rbuild_engine::BuildError::Dockerfile { file, line, column, rendered, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(file.ends_with("Dockerfile"), "{file}");
    assert_eq!((*line, *column), (2, 6), "{rendered}");
    assert!(rendered.contains(":2:6:"), "{rendered}");
    let last = events.events().pop().unwrap();
    assert!(matches!(&last.kind, EventKind::Error { message } if message == rendered), "{last:?}");
}
