//! The cache contract with a fake worker and the in-memory store: what hits,
//! what misses and why, what runs once, and how failures and cancellation
//! stop the rest. No root, no files, no clock.

use std::sync::Mutex;
use std::sync::mpsc;

use rbuild_llb::{CacheKey, Cancel, Component, Kind};
use rbuild_solver::{
    CacheMap, Dep, Graph, Keyed, MemoryCache, Miss, SolveError, SolveOptions, VertexId, Worker,
    solve_cached,
};

#[derive(Clone, Debug)]
struct V {
    name: &'static str,
    op: Vec<(Kind, &'static str, String)>,
    deps: Vec<Dep>,
    cached: bool,
    fail: bool,
    /// Waits for the build to be cancelled, then fails.
    wait_for_cancel: bool,
    /// Waits until every vertex with `meet` runs, so they overlap.
    meet: bool,
    /// Never a hit, with this reason (`--no-cache-filter`).
    no_cache: Option<&'static str>,
}

fn v(name: &'static str, command: &str) -> V {
    V {
        name,
        op: vec![(Kind::Op, "command", command.to_owned())],
        deps: vec![Dep::keyed("parent")],
        cached: true,
        fail: false,
        wait_for_cancel: false,
        meet: false,
        no_cache: None,
    }
}

fn source(name: &'static str, digest: &str) -> V {
    V { deps: Vec::new(), ..v(name, digest) }
}

#[derive(Clone, Debug, PartialEq)]
struct Out {
    key: CacheKey,
    text: String,
}

impl Keyed for Out {
    fn key(&self) -> CacheKey {
        self.key
    }
}

#[derive(Default)]
struct Fake {
    /// (vertex, why it ran) for every exec.
    execs: Mutex<Vec<(&'static str, Miss)>>,
    loads: Mutex<Vec<&'static str>>,
    started: Mutex<Option<mpsc::Sender<&'static str>>>,
    meeting: Option<std::sync::Barrier>,
}

impl Fake {
    fn execs(&self) -> Vec<(&'static str, Miss)> {
        std::mem::take(&mut *self.execs.lock().unwrap())
    }

    fn loads(&self) -> Vec<&'static str> {
        let mut l = std::mem::take(&mut *self.loads.lock().unwrap());
        l.sort();
        l
    }

    fn text(vertex: &V, inputs: &[Out]) -> String {
        let ins: Vec<&str> = inputs.iter().map(|i| i.text.as_str()).collect();
        format!("{}({})", vertex.name, ins.join(","))
    }
}

impl Worker for Fake {
    type Vertex = V;
    type Output = Out;
    type Record = String;
    type Error = String;
    type Prepared = ();

    fn cache_map(&self, vertex: &V, _inputs: &[Out]) -> Result<Option<(CacheMap, ())>, String> {
        Ok(vertex.cached.then(|| {
            (
                CacheMap {
                    op: vertex
                        .op
                        .iter()
                        .map(|(kind, name, value)| Component {
                            kind: *kind,
                            name: (*name).to_owned(),
                            value: value.clone(),
                        })
                        .collect(),
                    deps: vertex.deps.clone(),
                    identity: Some(vertex.name.to_owned()),
                    no_cache: vertex.no_cache.map(str::to_owned),
                },
                (),
            )
        }))
    }

    fn run(&self, vertex: &V, inputs: &[Out], _: &Cancel) -> Result<Out, String> {
        let key = inputs.first().map_or(CacheKey([0; 32]), Keyed::key);
        Ok(Out { key, text: Fake::text(vertex, inputs) })
    }

    fn load(&self, vertex: &V, _: &[Out], key: CacheKey, record: String) -> Result<Out, String> {
        self.loads.lock().unwrap().push(vertex.name);
        Ok(Out { key, text: record })
    }

    fn exec(
        &self,
        vertex: &V,
        inputs: &[Out],
        key: CacheKey,
        miss: &Miss,
        (): (),
        cancel: &Cancel,
    ) -> Result<(Out, String), String> {
        self.execs.lock().unwrap().push((vertex.name, miss.clone()));
        if let Some(tx) = &*self.started.lock().unwrap() {
            let _ = tx.send(vertex.name);
        }
        if vertex.meet
            && let Some(meeting) = &self.meeting
        {
            meeting.wait();
        }
        if vertex.wait_for_cancel {
            let (tx, rx) = mpsc::channel();
            let _hook = cancel.on_cancel(move || {
                let _ = tx.send(());
            });
            let _ = rx.recv();
            return Err(format!("{} cancelled", vertex.name));
        }
        if vertex.fail {
            return Err(format!("{} failed", vertex.name));
        }
        let text = Fake::text(vertex, inputs);
        Ok((Out { key, text: text.clone() }, text))
    }

    fn store_failed(&self, _: &V, why: String) -> String {
        why
    }
}

const OPTS: SolveOptions = SolveOptions { parallel: 4, no_cache: false };

/// base → a → b, and the vertex ids.
fn chain(a: V, b: V) -> (Graph<V, String>, VertexId) {
    let mut g = Graph::new();
    let base = g.add("base".into(), source("base", "sha256:1"), &[]);
    let a = g.add(format!("a {:?}", a.op), a, &[base]);
    let b = g.add(format!("b {:?}", b.op), b, &[a]);
    (g, b)
}

fn solve(
    g: &Graph<V, String>,
    target: VertexId,
    worker: &Fake,
    store: &MemoryCache<String>,
    options: SolveOptions,
) -> Result<Out, SolveError<String>> {
    solve_cached(g, &[target], options, &Cancel::new(), worker, store).map(|r| r[&target].clone())
}

#[test]
fn a_second_build_hits_every_step_and_gives_the_same_result() {
    let (store, worker) = (MemoryCache::new(), Fake::default());
    let (g, target) = chain(v("a", "make"), v("b", "test"));
    let first = solve(&g, target, &worker, &store, OPTS).unwrap();
    assert_eq!(first.text, "b(a(base()))");
    let ran: Vec<_> = worker.execs().into_iter().map(|(n, m)| (n, m.to_string())).collect();
    assert_eq!(ran.len(), 3, "every step ran: {ran:?}");
    assert!(ran.iter().all(|(_, why)| why == "no earlier build"), "{ran:?}");
    let again = solve(&g, target, &worker, &store, OPTS).unwrap();
    assert_eq!(again, first, "same key, same output");
    assert!(worker.execs().is_empty(), "nothing runs on a hit");
    assert_eq!(worker.loads(), ["a", "b", "base"]);
}

#[test]
fn a_miss_says_what_changed_and_its_dependents_say_the_parent_changed() {
    let (store, worker) = (MemoryCache::new(), Fake::default());
    let (g, target) = chain(v("a", "make"), v("b", "test"));
    solve(&g, target, &worker, &store, OPTS).unwrap();
    worker.execs();

    let (g, target) = chain(v("a", "make all"), v("b", "test"));
    solve(&g, target, &worker, &store, OPTS).unwrap();
    assert_eq!(
        worker.execs(),
        [
            ("a", Miss::Changed("command changed".into())),
            ("b", Miss::Changed("the parent step changed".into()))
        ]
    );
    assert_eq!(worker.loads(), ["base"]);

    let mut with_var = v("a", "make all");
    with_var.op.push((Kind::Var, "VERSION", "1.2".into()));
    let (g, target) = chain(with_var.clone(), v("b", "test"));
    solve(&g, target, &worker, &store, OPTS).unwrap();
    with_var.op[1].2 = "1.3".into();
    let (g, target) = chain(with_var, v("b", "test"));
    solve(&g, target, &worker, &store, OPTS).unwrap();
    let ran = worker.execs();
    assert_eq!(ran[ran.len() - 2].1, Miss::Changed("VERSION changed 1.2 → 1.3".into()), "{ran:?}");
}

#[test]
fn a_pruned_result_and_no_cache_say_so() {
    let (store, worker) = (MemoryCache::new(), Fake::default());
    let (g, target) = chain(v("a", "make"), v("b", "test"));
    solve(&g, target, &worker, &store, OPTS).unwrap();
    worker.execs();
    store.clear_records();
    solve(&g, target, &worker, &store, OPTS).unwrap();
    assert!(worker.execs().iter().all(|(_, m)| *m == Miss::NotStored));
    solve(&g, target, &worker, &store, SolveOptions { no_cache: true, ..OPTS }).unwrap();
    let ran = worker.execs();
    assert_eq!(ran.len(), 3);
    assert!(ran.iter().all(|(_, m)| *m == Miss::NoCache), "{ran:?}");
    assert!(worker.loads().is_empty(), "--no-cache loads nothing");
}

#[test]
fn a_vertex_kept_from_the_cache_runs_alone_and_its_dependents_still_hit() {
    let (store, worker) = (MemoryCache::new(), Fake::default());
    let (g, target) = chain(v("a", "make"), v("b", "test"));
    let first = solve(&g, target, &worker, &store, OPTS).unwrap();
    worker.execs();
    let a = V { no_cache: Some("--no-cache-filter build"), ..v("a", "make") };
    let (g, target) = chain(a, v("b", "test"));
    let again = solve(&g, target, &worker, &store, OPTS).unwrap();
    assert_eq!(again, first, "the same key: the same result");
    assert_eq!(worker.execs(), [("a", Miss::NoCacheFor("--no-cache-filter build".into()))]);
    assert_eq!(worker.loads(), ["b", "base"], "its dependent hits on the same key");
}

#[test]
fn an_ignored_input_or_equal_content_keeps_the_key() {
    // A `COPY --link` layer leaves its parent out of the key; an input read
    // by content hits when the content is the same, however it was built.
    let (store, worker) = (MemoryCache::new(), Fake::default());
    let linked = V { deps: vec![Dep::ignored()], ..v("b", "copy") };
    let (g, target) = chain(v("a", "make"), linked.clone());
    solve(&g, target, &worker, &store, OPTS).unwrap();
    worker.execs();
    let (g, target) = chain(v("a", "make all"), linked);
    solve(&g, target, &worker, &store, OPTS).unwrap();
    assert_eq!(worker.execs(), [("a", Miss::Changed("command changed".into()))]);

    let by_content = V {
        deps: vec![Dep {
            name: Some("from".into()),
            selector: Some("/out".into()),
            content: Some("d1".into()),
        }],
        ..v("b", "copy")
    };
    let (g, target) = chain(v("a", "build"), by_content.clone());
    solve(&g, target, &worker, &store, OPTS).unwrap();
    let (g, target) = chain(v("a", "build all"), by_content);
    worker.execs();
    solve(&g, target, &worker, &store, OPTS).unwrap();
    assert_eq!(worker.execs().iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["a"]);
}

#[test]
fn equal_vertices_run_once() {
    let (store, worker) = (MemoryCache::new(), Fake::default());
    let mut g: Graph<V, &str> = Graph::new();
    let base = g.add("base", source("base", "sha256:1"), &[]);
    let a1 = g.add("a", v("a", "make"), &[base]);
    let a2 = g.add("a", v("a", "make"), &[base]);
    assert_eq!(a1, a2);
    let join = V { deps: vec![Dep::keyed("left"), Dep::keyed("right")], ..v("join", "cat") };
    let j = g.add("join", join, &[a1, a2]);
    let out = solve_cached(&g, &[j], OPTS, &Cancel::new(), &worker, &store).unwrap();
    assert_eq!(out[&j].text, "join(a(base()),a(base()))", "one result, given twice");
    let ran: Vec<_> = worker.execs().into_iter().map(|(n, _)| n).collect();
    assert_eq!(ran.iter().filter(|n| **n == "a").count(), 1, "{ran:?}");
}

#[test]
fn the_first_failure_cancels_the_running_rest_and_is_the_one_reported() {
    let store = MemoryCache::new();
    let worker = Fake { meeting: Some(std::sync::Barrier::new(2)), ..Fake::default() };
    let mut g: Graph<V, &str> = Graph::new();
    // Both start before either goes on: the failure finds the other running.
    let slow = V { wait_for_cancel: true, meet: true, deps: Vec::new(), ..v("slow", "sleep") };
    let slow = g.add("slow", slow, &[]);
    let bad =
        g.add("bad", V { fail: true, meet: true, deps: Vec::new(), ..v("bad", "false") }, &[]);
    let after = g.add("after", v("after", "true"), &[bad]);
    let fin = V { deps: vec![Dep::keyed("a"), Dep::keyed("b")], ..v("final", "") };
    let fin = g.add("final", fin, &[after, slow]);
    let err = solve_cached(&g, &[fin], OPTS, &Cancel::new(), &worker, &store).unwrap_err();
    match err {
        SolveError::Failed { vertex, error } => {
            assert_eq!((vertex, error.as_str()), (bad, "bad failed"));
        }
        other => panic!("{other:?}"),
    }
    let ran: Vec<_> = worker.execs().into_iter().map(|(n, _)| n).collect();
    assert!(ran.contains(&"slow"), "the sibling was running and saw the cancel: {ran:?}");
    assert!(!ran.contains(&"after") && !ran.contains(&"final"), "{ran:?}");
    assert!(store.is_empty(), "failed and cancelled steps store nothing");
}

#[test]
fn cancelling_from_outside_stops_a_running_step_and_the_solve() {
    let (store, worker) = (MemoryCache::new(), Fake::default());
    let (tx, rx) = mpsc::channel();
    *worker.started.lock().unwrap() = Some(tx);
    let mut g: Graph<V, &str> = Graph::new();
    let a = g.add("a", V { wait_for_cancel: true, deps: Vec::new(), ..v("a", "sleep") }, &[]);
    let b = g.add("b", v("b", "true"), &[a]);
    let cancel = Cancel::new();
    let err = std::thread::scope(|s| {
        let solving = s.spawn(|| solve_cached(&g, &[b], OPTS, &cancel, &worker, &store));
        assert_eq!(rx.recv().unwrap(), "a");
        cancel.cancel();
        solving.join().unwrap().unwrap_err()
    });
    assert!(matches!(err, SolveError::Cancelled), "{err:?}");
    assert_eq!(worker.execs().iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["a"]);
    assert!(store.is_empty(), "nothing is stored for a cancelled build");
}
