//! The solver on small graphs with real threads and real time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rbuild_llb::Cancel;
use rbuild_solver::{Graph, SolveError, solve};

#[derive(Debug)]
struct Step {
    name: &'static str,
    sleep_ms: u64,
    fail: bool,
}

fn step(name: &'static str, sleep_ms: u64) -> Step {
    Step { name, sleep_ms, fail: false }
}

#[test]
fn equal_vertices_merge_and_results_flow_along_edges() {
    let mut g: Graph<Step, String> = Graph::new();
    let base = g.add("base".into(), step("base", 0), &[]);
    let again = g.add("base".into(), step("base-dup", 0), &[]);
    assert_eq!(base, again, "same key, same vertex");
    let a = g.add("a".into(), step("a", 0), &[base]);
    let b = g.add("b".into(), step("b", 0), &[base]);
    let join = g.add("join".into(), step("join", 0), &[a, b]);
    assert_eq!(g.len(), 4);
    let ran = Mutex::new(Vec::new());
    let results = solve(&g, &[join], 4, &Cancel::default(), |_, v: &Step, inputs: &[String], _| {
        ran.lock().unwrap().push(v.name);
        Ok::<_, String>(format!("{}({})", v.name, inputs.join(",")))
    })
    .unwrap();
    assert_eq!(results[&join], "join(a(base()),b(base()))", "inputs come in dependency order");
    let ran = ran.into_inner().unwrap();
    assert_eq!(ran.iter().filter(|n| **n == "base").count(), 1, "merged work runs once");
}

#[test]
fn only_what_the_targets_need_runs() {
    let mut g: Graph<Step, &str> = Graph::new();
    let unused = g.add("unused", step("unused", 0), &[]);
    let used = g.add("used", step("used", 0), &[]);
    let target = g.add("target", step("target", 0), &[used]);
    let results = solve(&g, &[target], 2, &Cancel::default(), |_, v: &Step, _: &[()], _| {
        assert_ne!(v.name, "unused", "a stage nobody needs must not run");
        Ok::<_, ()>(())
    })
    .unwrap();
    assert!(!results.contains_key(&unused));
    assert_eq!(results.len(), 2);
}

#[test]
fn independent_vertices_run_at_the_same_time() {
    let mut g: Graph<Step, &str> = Graph::new();
    let stages: Vec<_> =
        ["a", "b", "c", "d"].into_iter().map(|n| g.add(n, step(n, 400), &[])).collect();
    let fin = g.add("final", step("final", 0), &stages);
    let started = Instant::now();
    solve(&g, &[fin], 8, &Cancel::default(), |_, v: &Step, _: &[()], _| {
        std::thread::sleep(Duration::from_millis(v.sleep_ms));
        Ok::<_, ()>(())
    })
    .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1200), "4 x 400 ms in parallel took {took:?}");
}

#[test]
fn the_first_failure_cancels_the_rest() {
    let mut g: Graph<Step, &str> = Graph::new();
    let bad = g.add("bad", Step { name: "bad", sleep_ms: 50, fail: true }, &[]);
    let slow = g.add("slow", step("slow", 2_000), &[]);
    let after_bad = g.add("after-bad", step("after-bad", 0), &[bad]);
    let fin = g.add("final", step("final", 0), &[after_bad, slow]);
    let started = Instant::now();
    let ran = Mutex::new(Vec::new());
    let err = solve(&g, &[fin], 4, &Cancel::default(), |_, v: &Step, _: &[()], cancel| {
        ran.lock().unwrap().push(v.name);
        let deadline = Instant::now() + Duration::from_millis(v.sleep_ms);
        while Instant::now() < deadline {
            if cancel.is_cancelled() {
                return Err(format!("{} cancelled", v.name));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if v.fail { Err(format!("{} failed", v.name)) } else { Ok(()) }
    })
    .unwrap_err();
    match err {
        SolveError::Failed { vertex, error } => {
            assert_eq!(vertex, bad);
            assert_eq!(error, "bad failed", "the first failure is reported, not the cancellations");
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(1500), "the slow sibling was cancelled");
    let ran = ran.into_inner().unwrap();
    assert!(!ran.contains(&"after-bad") && !ran.contains(&"final"), "{ran:?}");
}

#[test]
fn cancelling_from_outside_stops_the_build() {
    let mut g: Graph<Step, &str> = Graph::new();
    let a = g.add("a", step("a", 0), &[]);
    let cancel = Cancel::default();
    cancel.cancel();
    let err = solve(&g, &[a], 1, &cancel, |_, _: &Step, _: &[()], _| Ok::<_, ()>(())).unwrap_err();
    assert!(matches!(err, SolveError::Cancelled));
}
