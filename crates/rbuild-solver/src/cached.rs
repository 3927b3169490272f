//! The cache contract, after BuildKit's `solver/types.go` (Op, CacheMap):
//! a vertex says what it is made of, the solver makes the key, asks the
//! [`CacheStore`], runs misses through the [`Worker`], records every key's
//! named components and says why a vertex missed.

use std::collections::HashMap;
use std::fmt;

use rbuild_llb::{CacheKey, Cancel, Component, KeyBuilder, Kind, explain, redact};

use crate::{Graph, SolveError, VertexId, solve};

/// What one vertex's key is made of.
#[derive(Clone, Debug, Default)]
pub struct CacheMap {
    /// The op's own components: its definition (`command`, `workdir`…), the
    /// variables it sees, and the content it reads from outside the graph
    /// (context files, fetched URLs), each named so a change can be told.
    pub op: Vec<Component>,
    /// One entry per input, in the order of the vertex's dependencies.
    pub deps: Vec<Dep>,
    /// Which build's step this is, across builds (image, Dockerfile, stage,
    /// place), so the key can be compared with last time's; `None` keeps no
    /// history.
    pub identity: Option<String>,
    /// Why this vertex must not come from the cache though the build may
    /// (`--no-cache-filter STAGE`), said as its miss; it still stores its
    /// result.
    pub no_cache: Option<String>,
}

/// How a vertex depends on one input.
#[derive(Clone, Debug, Default)]
pub struct Dep {
    /// The name the input's key goes under (`parent`, `from`); `None` leaves
    /// the input's key out (a `COPY --link` layer does not depend on what it
    /// is stacked on).
    pub name: Option<String>,
    /// What part of the input is read (a path), part of the key when given.
    pub selector: Option<String>,
    /// A digest of the content read, when it can stand for the input's key:
    /// equal content hits even if the input was built differently.
    pub content: Option<String>,
}

impl Dep {
    /// An input whose whole key counts, under `name`.
    pub fn keyed(name: impl Into<String>) -> Dep {
        Dep { name: Some(name.into()), selector: None, content: None }
    }

    /// An input that does not enter the key.
    pub fn ignored() -> Dep {
        Dep::default()
    }
}

/// Why a vertex ran instead of coming from the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Miss {
    /// `--no-cache`.
    NoCache,
    /// This vertex alone may not hit (`--no-cache-filter`): why.
    NoCacheFor(String),
    /// No earlier build of this step is known.
    NoEarlierBuild,
    /// The step's inputs changed since last time: what changed.
    Changed(String),
    /// The same inputs as last time, but the result is gone.
    NotStored,
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::NoCache => f.write_str("--no-cache"),
            Miss::NoCacheFor(why) => f.write_str(why),
            Miss::NoEarlierBuild => f.write_str("no earlier build"),
            Miss::Changed(what) => f.write_str(what),
            Miss::NotStored => f.write_str("not in the cache (pruned or never stored)"),
        }
    }
}

/// Where keyed results live: the on-disk store, or [`MemoryCache`] in tests.
pub trait CacheStore<R>: Sync {
    /// The record stored under `key`, which was made of `components`.
    fn get(&self, key: &CacheKey, components: &[Component]) -> Option<R>;
    /// Stores `record` under `key`, with the components the key was made of.
    fn put(&self, key: &CacheKey, components: &[Component], record: &R) -> Result<(), String>;
    /// The components of the step `identity`'s key in the last build.
    fn last_components(&self, identity: &str) -> Option<Vec<Component>>;
    /// Remembers the components of the step `identity`'s key in this build.
    fn set_last_components(&self, identity: &str, components: &[Component]);
    /// The components, redacted ([`redact`]), of the step `identity` as
    /// another machine last shared it (a cache imported from a registry),
    /// asked only for a miss this machine has no history of.
    fn shared_components(&self, identity: &str) -> Option<Vec<Component>> {
        let _ = identity;
        None
    }
}

/// A result that knows its own cache key, which the vertices built on it
/// take as their input's key.
pub trait Keyed {
    /// The key the result stands for.
    fn key(&self) -> CacheKey;
}

/// Does the work of vertices; the solver decides when, and whether at all.
pub trait Worker: Sync {
    /// A vertex of the graph.
    type Vertex: Sync;
    /// What a vertex produces; its dependents get it as an input.
    type Output: Keyed + Clone + Send + Sync;
    /// What the cache keeps of a result.
    type Record: Send;
    /// What making the key found out that running the vertex needs too
    /// (the context files a COPY selected, a fetched download).
    type Prepared: Send;
    /// Why a vertex failed.
    type Error: Send;

    /// What the vertex's key is made of; `None` for vertices that are never
    /// cached (sources, metadata-only steps), which always run.
    #[allow(clippy::type_complexity)]
    fn cache_map(
        &self,
        vertex: &Self::Vertex,
        inputs: &[Self::Output],
    ) -> Result<Option<(CacheMap, Self::Prepared)>, Self::Error>;

    /// Runs an uncached vertex.
    fn run(
        &self,
        vertex: &Self::Vertex,
        inputs: &[Self::Output],
        cancel: &Cancel,
    ) -> Result<Self::Output, Self::Error>;

    /// The output of a vertex found in the cache under `key`.
    fn load(
        &self,
        vertex: &Self::Vertex,
        inputs: &[Self::Output],
        key: CacheKey,
        record: Self::Record,
    ) -> Result<Self::Output, Self::Error>;

    /// Runs a vertex that missed, and returns its output and what to store
    /// under `key`.
    fn exec(
        &self,
        vertex: &Self::Vertex,
        inputs: &[Self::Output],
        key: CacheKey,
        miss: &Miss,
        prepared: Self::Prepared,
        cancel: &Cancel,
    ) -> Result<(Self::Output, Self::Record), Self::Error>;

    /// The error for a record that could not be stored.
    fn store_failed(&self, vertex: &Self::Vertex, why: String) -> Self::Error;
}

/// The key of a vertex from its cache map and its inputs' keys, with the
/// named components it was made of: the op's own, then per input its key
/// (`Parent`), selector and content digest.
pub fn cache_key(map: &CacheMap, inputs: &[CacheKey]) -> (CacheKey, Vec<Component>) {
    let mut b = KeyBuilder::new();
    for c in &map.op {
        b.add(c.kind, c.name.clone(), c.value.clone());
    }
    for (dep, key) in map.deps.iter().zip(inputs) {
        let Some(name) = &dep.name else { continue };
        match &dep.content {
            Some(digest) => b.add(Kind::File, format!("{name} content"), digest.clone()),
            None => b.add(Kind::Parent, name.clone(), key.to_string()),
        };
        if let Some(selector) = &dep.selector {
            b.add(Kind::Op, format!("{name} selector"), selector.clone());
        }
    }
    b.finish()
}

/// Options of a cached solve.
#[derive(Clone, Copy, Debug)]
pub struct SolveOptions {
    /// How many vertices may run at once.
    pub parallel: usize,
    /// `--no-cache`: every cached vertex runs, and its result is stored.
    pub no_cache: bool,
}

/// Solves the graph for `targets` with the cache contract: each vertex's key
/// from its [`CacheMap`], a hit loaded, a miss run with why it missed, every
/// key's components recorded. Returns every needed vertex's output.
pub fn solve_cached<W, K, S>(
    graph: &Graph<W::Vertex, K>,
    targets: &[VertexId],
    options: SolveOptions,
    cancel: &Cancel,
    worker: &W,
    store: &S,
) -> Result<HashMap<VertexId, W::Output>, SolveError<W::Error>>
where
    W: Worker,
    K: Eq + std::hash::Hash + Clone + Sync,
    S: CacheStore<W::Record>,
{
    solve(graph, targets, options.parallel, cancel, |_, vertex, inputs, cancel| {
        let Some((map, prepared)) = worker.cache_map(vertex, inputs)? else {
            return worker.run(vertex, inputs, cancel);
        };
        let keys: Vec<CacheKey> = inputs.iter().map(Keyed::key).collect();
        let (key, components) = cache_key(&map, &keys);
        let previous = map.identity.as_deref().and_then(|id| store.last_components(id));
        if let Some(id) = &map.identity {
            store.set_last_components(id, &components);
        }
        if !options.no_cache
            && map.no_cache.is_none()
            && let Some(record) = store.get(&key, &components)
        {
            return worker.load(vertex, inputs, key, record);
        }
        let shared = || map.identity.as_deref().and_then(|id| store.shared_components(id));
        let miss = if options.no_cache {
            Miss::NoCache
        } else if let Some(why) = &map.no_cache {
            Miss::NoCacheFor(why.clone())
        } else if let Some(old) = &previous {
            explain(old, &components).map_or(Miss::NotStored, Miss::Changed)
        } else if let Some(old) = shared() {
            explain(&old, &redact(&components)).map_or(Miss::NotStored, Miss::Changed)
        } else {
            Miss::NoEarlierBuild
        };
        let (output, record) = worker.exec(vertex, inputs, key, &miss, prepared, cancel)?;
        store.put(&key, &components, &record).map_err(|why| worker.store_failed(vertex, why))?;
        Ok(output)
    })
}

/// A [`CacheStore`] in memory, for tests and one-off solves.
#[derive(Debug)]
pub struct MemoryCache<R> {
    records: std::sync::Mutex<HashMap<CacheKey, R>>,
    last: std::sync::Mutex<HashMap<String, Vec<Component>>>,
}

impl<R> Default for MemoryCache<R> {
    fn default() -> Self {
        MemoryCache { records: Default::default(), last: Default::default() }
    }
}

impl<R> MemoryCache<R> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every record (as a prune does) but not the step history.
    pub fn clear_records(&self) {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// How many records are stored.
    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<R: Clone + Send> CacheStore<R> for MemoryCache<R> {
    fn get(&self, key: &CacheKey, _components: &[Component]) -> Option<R> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    fn put(&self, key: &CacheKey, _components: &[Component], record: &R) -> Result<(), String> {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).insert(*key, record.clone());
        Ok(())
    }

    fn last_components(&self, identity: &str) -> Option<Vec<Component>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).get(identity).cloned()
    }

    fn set_last_components(&self, identity: &str, components: &[Component]) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(identity.to_owned(), components.to_vec());
    }
}
