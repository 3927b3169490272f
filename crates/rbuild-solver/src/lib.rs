/*!
The build solver: a DAG of vertices (one per build step), where a vertex
runs once every vertex it depends on has a result.

* [`Graph::add`] merges equal vertices (same key): two stages that begin
  with the same steps share them, as BuildKit's solver does.
* [`solve`] runs only what the targets need (a stage nobody uses never
  builds), runs every ready vertex at once on a thread pool (steps mostly
  wait on child processes, so the pool is wider than the cores), and on the
  first failure cancels the rest: vertices not started never start, and
  running ones see their [`Cancel`] flag fire.

It knows nothing of Dockerfiles, snapshots or images: the caller's `run`
closure does the work and returns whatever the next vertices need.

[`solve_cached`] adds the cache contract on top (after BuildKit's Op and
CacheMap): each vertex's [`Worker`] says what its key is made of
([`CacheMap`]: the op's named components, and per input whether its key
counts, a selector and an optional content digest); the solver makes the
key, asks the [`CacheStore`], loads a hit, runs a miss with the reason it
missed ([`Miss`]: what changed since the last build of that step), and
stores the result with the key's components. [`MemoryCache`] makes its
semantics testable without a store on disk.
*/
#![deny(missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::{Dfs, Reversed};
use rbuild_llb::Cancel;

mod cached;

pub use cached::{
    CacheMap, CacheStore, Dep, Keyed, MemoryCache, Miss, SolveOptions, Worker, cache_key,
    solve_cached,
};

/// A vertex's place in the graph.
pub type VertexId = NodeIndex;

/// The build graph: vertices with edges from each dependency to its users.
#[derive(Debug)]
pub struct Graph<V, K> {
    graph: StableDiGraph<V, ()>,
    by_key: HashMap<K, VertexId>,
    keys: HashMap<VertexId, K>,
}

impl<V, K: Eq + Hash> Default for Graph<V, K> {
    fn default() -> Self {
        Graph { graph: StableDiGraph::new(), by_key: HashMap::new(), keys: HashMap::new() }
    }
}

impl<V, K: Eq + Hash + Clone> Graph<V, K> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a vertex that depends on `deps` (in order), unless a vertex
    /// with the same `key` exists: then that one is returned, so equal
    /// work is done once. The key must cover the vertex and its inputs.
    pub fn add(&mut self, key: K, vertex: V, deps: &[VertexId]) -> VertexId {
        if let Some(id) = self.by_key.get(&key) {
            return *id;
        }
        let id = self.graph.add_node(vertex);
        for dep in deps {
            self.graph.add_edge(*dep, id, ());
        }
        self.by_key.insert(key.clone(), id);
        self.keys.insert(id, key);
        id
    }

    /// The key vertex `id` was added with, so a caller can make the keys of
    /// the vertices that depend on it from it.
    pub fn key(&self, id: VertexId) -> Option<&K> {
        self.keys.get(&id)
    }

    /// The vertex `id`.
    pub fn vertex(&self, id: VertexId) -> &V {
        &self.graph[id]
    }

    /// The vertices `id` depends on, in the order they were given.
    pub fn deps(&self, id: VertexId) -> Vec<VertexId> {
        let mut deps: Vec<_> = self
            .graph
            .edges_directed(id, Direction::Incoming)
            .map(|e| (petgraph::visit::EdgeRef::id(&e), petgraph::visit::EdgeRef::source(&e)))
            .collect();
        deps.sort_by_key(|(edge, _)| *edge);
        deps.into_iter().map(|(_, source)| source).collect()
    }

    /// Number of distinct vertices.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the graph has no vertex.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Every vertex the targets need, themselves included.
    pub fn needed(&self, targets: &[VertexId]) -> Vec<VertexId> {
        let reversed = Reversed(&self.graph);
        let mut seen = Vec::new();
        for target in targets {
            let mut dfs = Dfs::new(reversed, *target);
            while let Some(id) = dfs.next(reversed) {
                if !seen.contains(&id) {
                    seen.push(id);
                }
            }
        }
        seen.sort();
        seen
    }
}

/// Why a solve stopped.
#[derive(Debug, thiserror::Error)]
pub enum SolveError<E> {
    /// A vertex failed; the others were cancelled.
    #[error("{error}")]
    Failed {
        /// The vertex that failed first.
        vertex: VertexId,
        /// Its error.
        error: E,
    },
    /// The build was cancelled from outside before it finished.
    #[error("cancelled")]
    Cancelled,
    /// The thread pool could not be made.
    #[error("thread pool: {0}")]
    Pool(String),
}

/// Runs the vertices `targets` need, each once its dependencies are done,
/// up to `parallel` at a time, calling `run(id, vertex, dep_results,
/// cancel)`. Returns every needed vertex's result.
pub fn solve<V, K, R, E, F>(
    graph: &Graph<V, K>,
    targets: &[VertexId],
    parallel: usize,
    cancel: &Cancel,
    run: F,
) -> Result<HashMap<VertexId, R>, SolveError<E>>
where
    V: Sync,
    K: Eq + Hash + Clone + Sync,
    R: Send + Sync + Clone,
    E: Send,
    F: Fn(VertexId, &V, &[R], &Cancel) -> Result<R, E> + Sync,
{
    let needed = graph.needed(targets);
    let mut waiting: HashMap<VertexId, usize> =
        needed.iter().map(|id| (*id, graph.deps(*id).len())).collect();
    let ready: VecDeque<VertexId> = needed.iter().copied().filter(|id| waiting[id] == 0).collect();
    struct State<R, E> {
        results: HashMap<VertexId, R>,
        failure: Option<(VertexId, E)>,
    }
    let state = Mutex::new(State::<R, E> { results: HashMap::new(), failure: None });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(parallel.max(1))
        .thread_name(|i| format!("rbuild-solve-{i}"))
        .build()
        .map_err(|e| SolveError::Pool(e.to_string()))?;
    let waiting_lock = Mutex::new(&mut waiting);

    fn spawn<'s, V, K, R, E, F>(
        scope: &rayon::Scope<'s>,
        id: VertexId,
        graph: &'s Graph<V, K>,
        state: &'s Mutex<State<R, E>>,
        waiting: &'s Mutex<&mut HashMap<VertexId, usize>>,
        cancel: &'s Cancel,
        run: &'s F,
    ) where
        V: Sync,
        K: Eq + Hash + Clone + Sync,
        R: Send + Sync + Clone,
        E: Send,
        F: Fn(VertexId, &V, &[R], &Cancel) -> Result<R, E> + Sync,
    {
        scope.spawn(move |scope| {
            if cancel.is_cancelled() {
                return;
            }
            let inputs: Vec<R> = {
                let st = state.lock().unwrap_or_else(|p| p.into_inner());
                graph.deps(id).iter().filter_map(|d| st.results.get(d).cloned()).collect()
            };
            let outcome = run(id, graph.vertex(id), &inputs, cancel);
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                Err(error) => {
                    if st.failure.is_none() && !cancel.is_cancelled() {
                        st.failure = Some((id, error));
                    }
                    // Hooks run outside the solver's lock.
                    drop(st);
                    cancel.cancel();
                }
                Ok(result) => {
                    st.results.insert(id, result);
                    drop(st);
                    let mut w = waiting.lock().unwrap_or_else(|p| p.into_inner());
                    let users: Vec<VertexId> =
                        graph.graph.neighbors_directed(id, Direction::Outgoing).collect();
                    let mut now_ready = Vec::new();
                    for user in users {
                        if let Some(count) = w.get_mut(&user) {
                            *count -= 1;
                            if *count == 0 {
                                now_ready.push(user);
                            }
                        }
                    }
                    drop(w);
                    for user in now_ready {
                        spawn(scope, user, graph, state, waiting, cancel, run);
                    }
                }
            }
        });
    }

    pool.scope(|scope| {
        for id in ready {
            spawn(scope, id, graph, &state, &waiting_lock, cancel, &run);
        }
    });
    let st = state.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some((vertex, error)) = st.failure {
        return Err(SolveError::Failed { vertex, error });
    }
    if cancel.is_cancelled() || st.results.len() != needed.len() {
        return Err(SolveError::Cancelled);
    }
    Ok(st.results)
}
