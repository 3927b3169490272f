//! The scheduler on small graphs with real threads; overlap is proved from
//! the order of recorded events, never from the clock.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rbuild_llb::Cancel;
use rbuild_solver::{Graph, SolveError, solve};

#[derive(Debug)]
struct Step {
    name: &'static str,
    fail: bool,
}

fn step(name: &'static str) -> Step {
    Step { name, fail: false }
}

#[test]
fn equal_vertices_merge_and_results_flow_along_edges() {
    let mut g: Graph<Step, String> = Graph::new();
    let base = g.add("base".into(), step("base"), &[]);
    let again = g.add("base".into(), step("base-dup"), &[]);
    assert_eq!(base, again, "same key, same vertex");
    assert_eq!(
        g.key(base).map(String::as_str),
        Some("base"),
        "the key is kept, not the duplicate's"
    );
    let a = g.add("a".into(), step("a"), &[base]);
    let b = g.add("b".into(), step("b"), &[base]);
    let join = g.add("join".into(), step("join"), &[a, b]);
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
    let unused = g.add("unused", step("unused"), &[]);
    let used = g.add("used", step("used"), &[]);
    let target = g.add("target", step("target"), &[used]);
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
    // Each vertex waits (up to a generous liveness limit, never a speed
    // threshold) until all four have started: they can only all end after
    // all four started if they ran at the same time.
    let mut g: Graph<Step, &str> = Graph::new();
    let stages: Vec<_> = ["a", "b", "c", "d"].into_iter().map(|n| g.add(n, step(n), &[])).collect();
    let fin = g.add("final", step("final"), &stages);
    let started = (Mutex::new(0usize), Condvar::new());
    let events = Mutex::new(Vec::new());
    solve(&g, &[fin], 8, &Cancel::default(), |_, v: &Step, _: &[()], _| {
        if v.name == "final" {
            return Ok::<_, ()>(());
        }
        events.lock().unwrap().push(("start", v.name));
        let (count, cv) = &started;
        let mut n = count.lock().unwrap();
        *n += 1;
        cv.notify_all();
        let (n, _) = cv.wait_timeout_while(n, Duration::from_secs(30), |n| *n < 4).unwrap();
        drop(n);
        events.lock().unwrap().push(("end", v.name));
        Ok(())
    })
    .unwrap();
    let events = events.into_inner().unwrap();
    let last_start = events.iter().rposition(|(e, _)| *e == "start").unwrap();
    let first_end = events.iter().position(|(e, _)| *e == "end").unwrap();
    assert!(last_start < first_end, "every vertex started before any ended: {events:?}");
}

#[test]
fn the_first_failure_cancels_the_rest() {
    let mut g: Graph<Step, &str> = Graph::new();
    let bad = g.add("bad", Step { name: "bad", fail: true }, &[]);
    let slow = g.add("slow", step("slow"), &[]);
    let after_bad = g.add("after-bad", step("after-bad"), &[bad]);
    let fin = g.add("final", step("final"), &[after_bad, slow]);
    let ran = Mutex::new(Vec::new());
    let never_cancelled = std::sync::atomic::AtomicBool::new(false);
    let err = solve(&g, &[fin], 4, &Cancel::default(), |_, v: &Step, _: &[()], cancel| {
        ran.lock().unwrap().push(v.name);
        if v.fail {
            return Err(format!("{} failed", v.name));
        }
        // A running sibling hears the cancel (or, had the failure come
        // first, never starts); it does not run on to its end.
        let (tx, rx) = std::sync::mpsc::channel();
        let _hook = cancel.on_cancel(move || {
            let _ = tx.send(());
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(()) => Err(format!("{} cancelled", v.name)),
            Err(_) => {
                never_cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
        }
    })
    .unwrap_err();
    match err {
        SolveError::Failed { vertex, error } => {
            assert_eq!(vertex, bad);
            assert_eq!(error, "bad failed", "the first failure is reported, not the cancellations");
        }
        other => panic!("{other:?}"),
    }
    let ran = ran.into_inner().unwrap();
    assert!(!ran.contains(&"after-bad") && !ran.contains(&"final"), "{ran:?}");
    assert!(!never_cancelled.into_inner(), "a running sibling was left to run on");
}

#[test]
fn cancelling_from_outside_stops_the_build() {
    let mut g: Graph<Step, &str> = Graph::new();
    let a = g.add("a", step("a"), &[]);
    let cancel = Cancel::default();
    cancel.cancel();
    let err = solve(&g, &[a], 1, &cancel, |_, _: &Step, _: &[()], _| Ok::<_, ()>(())).unwrap_err();
    assert!(matches!(err, SolveError::Cancelled));
}
