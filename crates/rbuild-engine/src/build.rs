//! A build: the Dockerfile's plan becomes a graph of steps, solved in
//! parallel under the solver's cache contract; each step that misses runs
//! (RUN in namespaces, COPY and WORKDIR as file operations on the mounted
//! overlay) and becomes a layer; the target stage becomes an image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Mutex;
use std::time::Instant;

use rbuild_cache::{CacheRecord, LayerRef, SnapshotId, Store};
use rbuild_frontend::{Base, Op, Plan, StageRef, Step};
use rbuild_image::oci_spec::image::{Descriptor, Digest, MediaType};
use rbuild_image::{Blobs, Compression, DiffOptions, History, Layer};
use rbuild_llb::{
    CacheKey, Cancel, Component, Entitlement, Fields, KeyBuilder, KeyText as _, Kind, NetworkMode,
    Platform, Reference, RunMount, SecurityMode, StepInfo, StepReport,
};
use rbuild_runtime::{
    CacheMounts, CacheOwner, CopyAction, CopySource, CopySpec, Executor, Mount, RootFs, StepSpec,
};
use rbuild_solver::{
    CacheMap, CacheStore, Dep, Graph, Keyed, Miss, SolveError, SolveOptions, VertexId, Worker,
};

use crate::error::{BuildError, StepError, io};
use crate::events::Emitter;
use crate::failure::{FailedStep, LastBuild, StepState};
use crate::shared::{CacheMode, ExportStep, SharedCache};
use crate::{BuildRequest, OnFailure};

/// What a build produced, before its outputs are written.
pub(crate) struct Built {
    pub(crate) manifest_descriptor: Descriptor,
    pub(crate) config_digest: String,
    pub(crate) steps: Vec<StepReport>,
    /// The base images pulled, with the digests their tags resolved to.
    pub(crate) pulled: Vec<rbuild_llb::PulledImage>,
}

/// The result of one vertex: a file system state and the image pieces
/// that describe it.
#[derive(Clone, Debug)]
struct State {
    key: CacheKey,
    rootfs: Rootfs,
    layers: Chain<Layer>,
    history: Chain<History>,
}

/// A list that grows at its end, shared by every state built on it: each
/// vertex keeps its own state, so a copy of the layers and history per
/// vertex would take memory quadratic in the Dockerfile's length (10,000
/// ENV lines: gigabytes); a push here is O(1) and shares the rest.
#[derive(Debug)]
struct Chain<T> {
    last: Option<std::sync::Arc<Link<T>>>,
    len: usize,
}

#[derive(Debug)]
struct Link<T> {
    item: T,
    prev: Option<std::sync::Arc<Link<T>>>,
}

impl<T> Clone for Chain<T> {
    fn clone(&self) -> Self {
        Chain { last: self.last.clone(), len: self.len }
    }
}

impl<T> Drop for Link<T> {
    /// Unlinks iteratively: a long chain dropped recursively would
    /// overflow the stack.
    fn drop(&mut self) {
        let mut next = self.prev.take();
        while let Some(link) = next {
            match std::sync::Arc::try_unwrap(link) {
                Ok(mut owned) => next = owned.prev.take(),
                Err(_) => break,
            }
        }
    }
}

impl<T: Clone> Chain<T> {
    fn new() -> Chain<T> {
        Chain { last: None, len: 0 }
    }

    fn from_vec(items: Vec<T>) -> Chain<T> {
        let mut chain = Chain::new();
        for item in items {
            chain.push(item);
        }
        chain
    }

    fn push(&mut self, item: T) {
        let prev = self.last.take();
        self.last = Some(std::sync::Arc::new(Link { item, prev }));
        self.len += 1;
    }

    /// The items, first pushed first.
    /// The newest item.
    fn top(&self) -> Option<&T> {
        self.last.as_deref().map(|link| &link.item)
    }

    fn to_vec(&self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        let mut at = self.last.as_deref();
        while let Some(link) = at {
            out.push(link.item.clone());
            at = link.prev.as_deref();
        }
        out.reverse();
        out
    }
}

/// A state's file system: unpacked in the store, or a layer over another
/// state's, unpacked only when a step runs on it or copies from it (a hit
/// whose state only feeds later hits is never unpacked, nor its blob
/// fetched when it came from a shared cache).
#[derive(Clone, Debug)]
enum Rootfs {
    /// Nothing: `scratch`.
    Empty,
    /// A committed snapshot of the store.
    Snapshot(SnapshotId),
    /// A layer not unpacked yet.
    Lazy(std::sync::Arc<LazyLayer>),
}

#[derive(Debug)]
struct LazyLayer {
    parent: Rootfs,
    layer: Layer,
    /// The key the unpacked snapshot is recorded under.
    key: CacheKey,
    components: Vec<Component>,
    what: String,
    made: std::sync::OnceLock<Result<SnapshotId, String>>,
}

impl Rootfs {
    /// `layer` over `parent` (keyed `parent_key`), not unpacked yet.
    fn lazy(
        parent: &Rootfs,
        parent_key: Option<CacheKey>,
        layer: Layer,
        linked: bool,
        what: &str,
    ) -> (CacheKey, Rootfs) {
        let (key, components) = layer_key(parent_key, &layer, linked);
        let lazy = LazyLayer {
            parent: parent.clone(),
            layer,
            key,
            components,
            what: what.to_owned(),
            made: std::sync::OnceLock::new(),
        };
        (key, Rootfs::Lazy(std::sync::Arc::new(lazy)))
    }
}

/// The key of `layer` unpacked over the state keyed `parent`: base image
/// layers, `COPY --link` layers stacked on their parent (`linked`), and
/// layers of hits unpacked late.
pub(crate) fn layer_key(
    parent: Option<CacheKey>,
    layer: &Layer,
    linked: bool,
) -> (CacheKey, Vec<rbuild_llb::Component>) {
    let mut b = KeyBuilder::new();
    b.add(Kind::Op, if linked { "linked layer" } else { "layer" }, layer.diff_id.to_string());
    if let Some(parent) = parent {
        b.add(Kind::Parent, "parent", parent.to_string());
    }
    b.finish()
}

/// The snapshot of `rootfs`, unpacking what is not yet (once, whatever
/// the number of steps asking at the same time).
fn snapshot_of(ctx: &Ctx<'_>, rootfs: &Rootfs) -> Result<Option<SnapshotId>, BuildError> {
    match rootfs {
        Rootfs::Empty => Ok(None),
        Rootfs::Snapshot(id) => Ok(Some(id.clone())),
        Rootfs::Lazy(lazy) => lazy
            .made
            .get_or_init(|| {
                let parent =
                    snapshot_of(ctx, &lazy.parent).map_err(|e| crate::error_message(&e))?;
                ctx.shared.ensure_blob(ctx.blobs, &lazy.layer).map_err(|e| e.to_string())?;
                applied_snapshot(
                    (ctx.store, ctx.blobs),
                    parent.as_ref(),
                    &lazy.layer,
                    (lazy.key, lazy.components.clone()),
                    &lazy.what,
                )
                .map_err(|e| crate::error_message(&e))
            })
            .clone()
            .map(Some)
            .map_err(BuildError::Layer),
    }
}

impl Keyed for State {
    fn key(&self) -> CacheKey {
        self.key
    }
}

enum Vertex<'p> {
    Scratch,
    Image(String),
    Step { stage: usize, ordinal: usize, step: &'p Step },
}

struct Ctx<'a> {
    cfg: &'a BuildRequest,
    plan: &'a Plan,
    store: &'a Store,
    blobs: &'a Blobs,
    executor: Executor,
    cache_mounts: CacheMounts,
    dockerignore: String,
    stat_cache: Mutex<rbuild_context::StatCache>,
    reports: Mutex<Vec<(usize, usize, StepReport)>>,
    events: &'a Emitter<'a>,
    images: &'a StoreImages<'a>,
    /// The last vertex of each stage, so `--from` can find its state.
    stage_vertex: Vec<Option<VertexId>>,
    /// The `--cache-from` caches.
    shared: &'a SharedCache,
    /// Each cached step's key and layer, by (stage, step), for `--cache-to`.
    done: Mutex<BTreeMap<(usize, usize), Done>>,
    /// The graph key of each step's vertex, by (stage, step): equal steps
    /// of two stages are one vertex.
    vertex_keys: BTreeMap<(usize, usize), String>,
    /// The state each step with files came to, by graph key, for `rbuild
    /// debug last`.
    states: Mutex<BTreeMap<String, State>>,
    /// The RUN that failed (the first, when steps fail side by side).
    failed: Mutex<Option<FailedStep>>,
}

/// What a cached step came to, hit or run.
struct Done {
    key: CacheKey,
    layer: Option<Layer>,
    seconds: f64,
    bytes: u64,
    /// Unix time the step first ran (its record's).
    created: u64,
}

impl From<std::io::Error> for BuildError {
    fn from(source: std::io::Error) -> Self {
        BuildError::Io { what: "file system".into(), source }
    }
}

impl From<serde_json::Error> for BuildError {
    fn from(e: serde_json::Error) -> Self {
        BuildError::Internal(e.to_string())
    }
}

fn stage_label(plan: &Plan, stage: usize) -> String {
    plan.stages[stage].name.clone().unwrap_or_else(|| stage.to_string())
}

fn layer_ref(layer: &Layer) -> LayerRef {
    LayerRef {
        digest: layer.descriptor.digest().to_string(),
        diff_id: layer.diff_id.to_string(),
        size: layer.descriptor.size(),
        media_type: layer.descriptor.media_type().to_string(),
    }
}

pub(crate) fn layer_from_ref(r: &LayerRef) -> Result<Layer, BuildError> {
    let bad = |e| BuildError::Internal(format!("a digest in a cache record: {e}"));
    let digest = Digest::from_str(&r.digest).map_err(bad)?;
    let diff_id = Digest::from_str(&r.diff_id).map_err(bad)?;
    Ok(Layer {
        descriptor: Descriptor::new(MediaType::from(r.media_type.as_str()), r.size, digest),
        diff_id,
    })
}

/// The history entry of `step`, made at `created`.
fn history(step: &Step, empty: bool, created: String) -> History {
    History {
        created: Some(created),
        created_by: step.history.clone(),
        author: None,
        comment: Some("rbuild".to_owned()),
        empty_layer: empty,
    }
}

/// A Dockerfile error at `span`, rendered with its source line.
fn located(path: &str, message: &str, span: rbuild_syntax::Span, rendered: String) -> BuildError {
    BuildError::Dockerfile {
        file: path.to_owned(),
        line: span.line,
        column: span.column,
        message: message.to_owned(),
        rendered,
    }
}

/// Builds the image; the caller holds the store's shared lock.
pub(crate) fn build(
    cfg: &BuildRequest,
    store: &Store,
    helper: &Path,
    events: &Emitter<'_>,
) -> Result<Built, BuildError> {
    let source = std::fs::read(&cfg.dockerfile)
        .map_err(|source| BuildError::ReadDockerfile { path: cfg.dockerfile.clone(), source })?;
    let source = String::from_utf8_lossy(&source).into_owned();
    let path = cfg.dockerfile_label();
    let df = rbuild_syntax::parse(&source)
        .map_err(|e| located(&path, e.message(), e.span(), e.render(&path, &source, false)))?;
    let blobs = Blobs::new(store.root())?;
    let images = StoreImages {
        store,
        blobs: &blobs,
        context: &cfg.context,
        layouts: Mutex::default(),
        pull: cfg.pull,
        pulled: Mutex::default(),
        registry: std::sync::OnceLock::new(),
        auth: cfg.registry_auth.as_ref(),
        events,
        resolved: Mutex::default(),
        in_use: Mutex::default(),
    };
    let options = rbuild_frontend::BuildOptions {
        build_args: cfg.build_args.clone(),
        target: cfg.target.clone(),
        platform: Platform::host(),
        host_env: std::env::vars().collect(),
        labels: cfg.labels.clone(),
        network: cfg.network.unwrap_or_default(),
    };
    let plan = rbuild_frontend::plan(&df, &source, &options, &images)
        .map_err(|e| located(&path, e.message(), e.span(), e.render(&path, &source, false)))?;
    // Steps run on this machine, without emulation: a stage for another
    // platform cannot be built (yet), and says so at its FROM. A RUN that
    // asks for the insecure mode is refused before anything runs: it is
    // never run sandboxed as if the flag were not there.
    for stage in plan.stages.iter().filter(|s| s.needed) {
        // The host's network only when the build allows it: `--network=host`
        // on the command line does, as with buildx.
        let host_allowed =
            cfg.allow.contains(&Entitlement::NetworkHost) || cfg.network == Some(NetworkMode::Host);
        if let Some(step) = stage
            .steps
            .iter()
            .find(|s| matches!(s.op, Op::Run { network: NetworkMode::Host, .. }))
            .filter(|_| !host_allowed)
        {
            return Err(BuildError::Unsupported(format!(
                "{path}:{}: RUN --network=host is not allowed: the host's network needs the \
                 network.host entitlement (add --allow network.host)",
                step.line
            )));
        }
        if let Some(step) = stage
            .steps
            .iter()
            .find(|s| matches!(s.op, Op::Run { security: SecurityMode::Insecure, .. }))
        {
            return Err(BuildError::Unsupported(format!(
                "{path}:{}: RUN --security=insecure is not supported: rbuild runs every step in \
                 its sandbox; remove the flag",
                step.line
            )));
        }
        if stage.platform != options.platform {
            let line = stage.line;
            return Err(BuildError::Unsupported(format!(
                "{path}:{line}: FROM --platform={}: only the host's platform {} can be built; \
                 multi-platform builds are not supported yet",
                stage.platform, options.platform
            )));
        }
    }
    for w in &plan.warnings {
        events.warning_at(&w.message, w.span.map(|s| s.line));
    }
    for name in &cfg.no_cache_filter {
        let named = |s: &rbuild_frontend::Stage| {
            s.name.as_ref().is_some_and(|n| n.eq_ignore_ascii_case(name))
        };
        if !plan.stages.iter().any(named) {
            events.warning(&format!(
                "--no-cache-filter {name}: the Dockerfile has no stage of that name"
            ));
        }
    }

    let ignore_file = rbuild_context::load_ignore(&cfg.context, Some(&cfg.dockerfile))?;
    let dockerignore =
        ignore_file.patterns().iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n");
    let stat_path = stat_cache_path(store, &cfg.context);
    let shared = SharedCache::new(&cfg.cache_from, cfg.registry_auth.as_ref());
    let mut ctx = Ctx {
        cfg,
        plan: &plan,
        store,
        blobs: &blobs,
        executor: Executor::new(helper),
        cache_mounts: CacheMounts::new(store.cache_mounts_dir()),
        dockerignore,
        stat_cache: Mutex::new(
            cfg.stat_cache.clone().unwrap_or_else(|| rbuild_context::StatCache::load(&stat_path)),
        ),
        reports: Mutex::new(Vec::new()),
        events,
        stage_vertex: vec![None; plan.stages.len()],
        images: &images,
        shared: &shared,
        done: Mutex::default(),
        vertex_keys: BTreeMap::new(),
        states: Mutex::default(),
        failed: Mutex::default(),
    };

    // The graph: one vertex per base and per step, equal ones merged.
    let missing = || BuildError::Internal("a stage used before it is built".into());
    let mut graph: Graph<Vertex<'_>, String> = Graph::new();
    for (index, stage) in plan.stages.iter().enumerate() {
        if !stage.needed {
            continue;
        }
        let mut prev = match &stage.base {
            Base::Scratch => graph.add("scratch".into(), Vertex::Scratch, &[]),
            Base::Image(r) => graph.add(format!("image {r}"), Vertex::Image(r.clone()), &[]),
            Base::Stage(i) => ctx.stage_vertex[*i].ok_or_else(missing)?,
        };
        for (ordinal, step) in stage.steps.iter().enumerate() {
            let mut deps = vec![prev];
            for f in step_sources(step) {
                deps.push(match f {
                    StageRef::Stage(i) => ctx.stage_vertex[*i].ok_or_else(missing)?,
                    StageRef::Image(r) => {
                        graph.add(format!("image {r}"), Vertex::Image(r.clone()), &[])
                    }
                    StageRef::Scratch => graph.add("scratch".into(), Vertex::Scratch, &[]),
                });
            }
            // A step's graph key is made of its inputs' keys (bases
            // included), so equal steps on different bases stay apart.
            let dep_keys = deps
                .iter()
                .map(|d| graph.key(*d).map(String::as_str).ok_or_else(missing))
                .collect::<Result<Vec<&str>, BuildError>>()?;
            let identity = Fields::new("vertex")
                .list("deps", &dep_keys)
                .raw("step", &step.key_text())
                .finish();
            let key = blake3::hash(identity.as_bytes()).to_hex().to_string();
            ctx.vertex_keys.insert((index, ordinal), key.clone());
            let id = graph.add(key, Vertex::Step { stage: index, ordinal, step }, &deps);
            prev = id;
        }
        ctx.stage_vertex[index] = Some(prev);
    }
    let target = ctx.stage_vertex[plan.target]
        .ok_or_else(|| BuildError::Internal("the target stage has no vertex".into()))?;

    let cancel = cfg.cancel.clone();
    let options = SolveOptions { parallel: 16, no_cache: cfg.no_cache };
    let cache = StoreCache {
        store,
        blobs: &blobs,
        shared: &shared,
        events,
        components: Mutex::default(),
        imported: Mutex::default(),
    };
    let results = rbuild_solver::solve_cached(&graph, &[target], options, &cancel, &ctx, &cache);
    let mut last = last_build(&ctx);
    if results.is_err()
        && let Err(e) = last.write(store)
    {
        events.warning(&format!("cannot record the build for rbuild debug: {e}"));
    }
    let results = match results {
        Ok(r) => r,
        Err(SolveError::Failed { error, .. }) => return Err(error),
        Err(SolveError::Cancelled) => return Err(BuildError::Cancelled),
        Err(SolveError::Pool(e)) => return Err(BuildError::Internal(e)),
    };
    let final_state = results
        .get(&target)
        .ok_or_else(|| BuildError::Internal("the target produced nothing".into()))?
        .clone();

    // The image: its layers' blobs first (hits of a shared cache fetch
    // theirs now); then hits whose blobs are here hit locally next time.
    let final_layers = final_state.layers.to_vec();
    for layer in &final_layers {
        shared.ensure_blob(&blobs, layer)?;
    }
    cache.keep_imported();
    let stage = &plan.stages[plan.target];
    let mut config = rbuild_image::ImageConfig::for_host();
    config.config = Some(stage.config.clone());
    config.author = stage.author.clone();
    config.history = final_state.history.to_vec();
    // Made when its newest part was: a build that hits every step makes the
    // same image.
    config.created = match cfg.source_date_epoch {
        Some(_) => Some(rbuild_image::timestamp(cfg.source_date_epoch)),
        None => config.history.iter().rev().find_map(|h| h.created.clone()),
    }
    .or_else(|| Some(rbuild_image::timestamp(None)));
    let spec = rbuild_image::ImageSpec {
        config,
        layers: final_layers,
        source_date_epoch: cfg.source_date_epoch,
        annotations: BTreeMap::new(),
    };
    let manifest = rbuild_image::write_image(&blobs, &spec)?;
    last.image = Some(manifest.digest().to_string());
    if let Err(e) = last.write(store) {
        events.warning(&format!("cannot record the build for rbuild debug: {e}"));
    }
    let config_digest =
        rbuild_image::read_manifest(&blobs, manifest.digest())?.config().digest().to_string();
    let parent = base_manifest(&plan, plan.target, &images);
    rbuild_image::images::record(
        store,
        &blobs,
        manifest.digest().as_ref(),
        parent.as_deref(),
        &[],
        &[],
    )
    .map_err(|e| BuildError::Internal(format!("recording the image: {e}")))?;
    for tag in cfg.names() {
        let name = Reference::parse(tag)
            .map_err(|e| BuildError::Unsupported(format!("-t {tag}: {e}")))?
            .to_string();
        store.tag(&name, manifest.digest().as_ref())?;
    }
    // A cache the request brought is its caller's, for a context of one
    // build: nothing to keep.
    if cfg.stat_cache.is_none()
        && let Ok(stat) = ctx.stat_cache.get_mut()
    {
        let _ = stat.save(&stat_path);
    }
    for export in &cfg.cache_to {
        let steps = export_steps(&ctx, &cache, export.mode);
        let mounts = if export.cache_mounts { cache_mounts_of(&ctx) } else { Vec::new() };
        let exported = crate::shared::export(export, &steps, &blobs, &shared).and_then(|done| {
            crate::shared::export_mounts(
                export,
                &mounts,
                &blobs,
                &shared,
                cfg.source_date_epoch,
                events,
            )
            .map(|mounts| (done, mounts))
        });
        match exported {
            Ok((done, mounts)) => events.emit(rbuild_llb::EventKind::CacheExport {
                location: export.location.to_string(),
                written: done.written,
                present: done.present,
                mounts,
            }),
            Err(why) if export.ignore_error => events.warning(&format!(
                "--cache-to {}: {why}; the image is built, the cache was not exported",
                export.location
            )),
            Err(why) => {
                return Err(BuildError::CacheExport { location: export.location.to_string(), why });
            }
        }
    }
    let mut reports = std::mem::take(ctx.reports.get_mut().unwrap_or_else(|p| p.into_inner()));
    reports.sort_by_key(|(stage, line, _)| (*stage, *line));
    Ok(Built {
        manifest_descriptor: manifest,
        config_digest,
        steps: reports.into_iter().map(|(_, _, r)| r).collect(),
        pulled: std::mem::take(&mut *images.resolved.lock().unwrap_or_else(|p| p.into_inner())),
    })
}

/// The manifest of the image the `target` stage is built on, through the
/// stages it builds on, if it starts from an image of the store.
fn base_manifest(
    plan: &rbuild_frontend::Plan,
    target: usize,
    images: &StoreImages<'_>,
) -> Option<String> {
    let mut stage = target;
    for _ in 0..=plan.stages.len() {
        match &plan.stages.get(stage)?.base {
            rbuild_frontend::Base::Scratch => return None,
            rbuild_frontend::Base::Stage(i) => stage = *i,
            rbuild_frontend::Base::Image(r) if r.starts_with("oci-layout://") => return None,
            rbuild_frontend::Base::Image(r) => return images.resolve(r).ok(),
        }
    }
    None
}

/// The stages and images a step reads besides its parent, in the order
/// they are its inputs: `COPY --from`, `RUN --mount from=`.
fn step_sources(step: &Step) -> Vec<&StageRef> {
    match &step.op {
        Op::Copy { from: Some(f), .. } => vec![f],
        Op::Run { mounts, .. } => mounts.iter().filter_map(|m| m.from.as_ref()).collect(),
        _ => Vec::new(),
    }
}

/// The store's cache records as the solver sees them, then the shared
/// caches of `--cache-from`.
struct StoreCache<'a> {
    store: &'a Store,
    blobs: &'a Blobs,
    shared: &'a SharedCache,
    events: &'a Emitter<'a>,
    /// Every key's components, for `--cache-to`.
    components: Mutex<std::collections::HashMap<CacheKey, Vec<Component>>>,
    /// Hits of a shared cache, to record locally once their blobs are here.
    imported: Mutex<Vec<(CacheKey, Vec<Component>, Stored)>>,
}

/// What the cache keeps of a step besides its key and components.
#[derive(Clone)]
struct Stored {
    snapshot: Option<SnapshotId>,
    layer: Option<LayerRef>,
    instruction: String,
    seconds: f64,
    bytes: u64,
    /// Unix time the step ran; 0 when unknown (an older shared record).
    created: u64,
}

/// When a step's history says it happened: `SOURCE_DATE_EPOCH`, else the
/// time the step first ran (so a build that hits every step makes the
/// same image again, as BuildKit's does), else now.
fn step_time(epoch: Option<u64>, ran: u64) -> String {
    match epoch {
        Some(_) => rbuild_image::timestamp(epoch),
        None if ran > 0 => rbuild_image::rfc3339(ran),
        None => rbuild_image::timestamp(None),
    }
}

impl StoreCache<'_> {
    fn record(&self, key: &CacheKey, components: &[Component], s: &Stored) -> CacheRecord {
        CacheRecord {
            key: *key,
            components: components.to_vec(),
            snapshot: s.snapshot.clone(),
            layer: s.layer.clone(),
            instruction: s.instruction.clone(),
            seconds: s.seconds,
            bytes: s.bytes,
            created: if s.created > 0 { s.created } else { rbuild_cache::unix_now() },
        }
    }

    /// Records locally (layer only, unpacked when needed) the shared hits
    /// whose blobs this build fetched, so the next build hits here.
    fn keep_imported(&self) {
        let imported =
            std::mem::take(&mut *self.imported.lock().unwrap_or_else(|p| p.into_inner()));
        for (key, components, stored) in imported {
            let here = stored
                .layer
                .as_ref()
                .is_some_and(|l| Digest::from_str(&l.digest).is_ok_and(|d| self.blobs.has(&d)));
            if here {
                let _ = self.store.cache_put(&self.record(&key, &components, &stored));
            }
        }
    }
}

impl CacheStore<Stored> for StoreCache<'_> {
    fn get(&self, key: &CacheKey, components: &[Component]) -> Option<Stored> {
        self.components.lock().unwrap_or_else(|p| p.into_inner()).insert(*key, components.to_vec());
        if let Some(r) = self.store.cache_get(key) {
            return Some(Stored {
                snapshot: r.snapshot,
                layer: r.layer,
                instruction: r.instruction,
                seconds: r.seconds,
                bytes: r.bytes,
                created: r.created,
            });
        }
        let hit = self.shared.lookup(key, self.blobs, self.events)?;
        let stored = Stored {
            snapshot: None,
            layer: hit.layer.as_ref().map(layer_ref),
            instruction: String::new(),
            seconds: hit.seconds,
            bytes: hit.bytes,
            created: hit.created,
        };
        self.imported.lock().unwrap_or_else(|p| p.into_inner()).push((
            *key,
            components.to_vec(),
            stored.clone(),
        ));
        Some(stored)
    }

    fn put(&self, key: &CacheKey, components: &[Component], s: &Stored) -> Result<(), String> {
        self.components.lock().unwrap_or_else(|p| p.into_inner()).insert(*key, components.to_vec());
        self.store.cache_put(&self.record(key, components, s)).map_err(|e| e.to_string())
    }

    fn last_components(&self, identity: &str) -> Option<Vec<Component>> {
        self.store.last_components(identity)
    }

    fn set_last_components(&self, identity: &str, components: &[Component]) {
        let _ = self.store.set_last_components(identity, components);
    }

    fn shared_components(&self, identity: &str) -> Option<Vec<Component>> {
        self.shared.step_history(identity, self.blobs, self.events)
    }
}

/// The cache mounts (`RUN --mount=type=cache`) of the stages this build
/// needed that have a directory here: id and directory. Secret, ssh and
/// tmpfs mounts are never among them.
fn cache_mounts_of(ctx: &Ctx<'_>) -> Vec<(String, CacheOwner, PathBuf)> {
    let mut out: Vec<(String, CacheOwner, PathBuf)> = Vec::new();
    for stage in ctx.plan.stages.iter().filter(|s| s.needed) {
        for step in &stage.steps {
            let Op::Run { mounts, .. } = &step.op else { continue };
            for m in mounts {
                if let RunMount::Cache { id, mode, uid, gid, .. } = &m.spec {
                    let owner = CacheOwner { mode: *mode, uid: *uid, gid: *gid };
                    if !out.iter().any(|(i, o, _)| i == id && *o == owner)
                        && let Some(dir) = ctx.cache_mounts.existing(id, owner)
                    {
                        out.push((id.clone(), owner, dir));
                    }
                }
            }
        }
    }
    out
}

/// The steps `--cache-to` exports: those of the final image's stages
/// (`min`: the target and the stages it is built `FROM`), or of every
/// stage the build needed (`max`).
fn export_steps(ctx: &Ctx<'_>, cache: &StoreCache<'_>, mode: CacheMode) -> Vec<ExportStep> {
    let mut stages = Vec::new();
    match mode {
        CacheMode::Max => {
            stages.extend((0..ctx.plan.stages.len()).filter(|i| ctx.plan.stages[*i].needed));
        }
        CacheMode::Min => {
            let mut stage = ctx.plan.target;
            while !stages.contains(&stage) {
                stages.push(stage);
                match &ctx.plan.stages[stage].base {
                    Base::Stage(i) => stage = *i,
                    _ => break,
                }
            }
        }
    }
    let done = ctx.done.lock().unwrap_or_else(|p| p.into_inner());
    let components = cache.components.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = Vec::new();
    for ((stage, ordinal), d) in done.iter() {
        if !stages.contains(stage) {
            continue;
        }
        let Some(components) = components.get(&d.key) else { continue };
        let step = &ctx.plan.stages[*stage].steps[*ordinal];
        out.push(ExportStep {
            key: d.key,
            components: components.clone(),
            layer: d.layer.clone(),
            identity: step_identity(ctx, *stage, *ordinal),
            op: step.text.split_whitespace().next().unwrap_or_default().to_ascii_uppercase(),
            seconds: d.seconds,
            bytes: d.bytes,
            created: d.created,
        });
    }
    out
}

fn stat_cache_path(store: &Store, context: &Path) -> PathBuf {
    store.state_dir().join(rbuild_context::StatCache::file_name(context))
}

/// Base images: tags in the store, or images in an OCI layout directory
/// (`oci-layout://PATH[:TAG][@DIGEST]`, PATH relative to the context),
/// whose blobs are imported into the store the first time a build asks.
struct StoreImages<'a> {
    store: &'a Store,
    blobs: &'a Blobs,
    context: &'a Path,
    layouts: Mutex<BTreeMap<String, Result<String, String>>>,
    pull: crate::PullPolicy,
    /// Each tag resolved once per build.
    pulled: Mutex<BTreeMap<String, Result<String, String>>>,
    /// The registry client, made on the first pull.
    registry: std::sync::OnceLock<Result<rbuild_registry::Client, String>>,
    /// The client's own credentials, when the build has them.
    auth: Option<&'a rbuild_registry::RequestAuth>,
    /// Where pulls report their bytes.
    events: &'a Emitter<'a>,
    /// What each pulled tag resolved to, in the order pulled.
    resolved: Mutex<Vec<rbuild_llb::PulledImage>>,
    /// The base images this build uses, marked so `rmi` leaves them be.
    in_use: Mutex<BTreeMap<String, rbuild_cache::InUse>>,
}

/// A pull's progress as build events: a blob's bytes at most every
/// twentieth of it (and 1 MiB), so a large layer does not flood the stream.
struct PullEvents<'a> {
    image: &'a str,
    events: &'a Emitter<'a>,
    sent: Mutex<BTreeMap<String, u64>>,
}

impl rbuild_registry::Progress for PullEvents<'_> {
    fn bytes(&self, digest: &rbuild_image::oci_spec::image::Digest, done: u64, total: u64) {
        let step = (total / 20).max(1 << 20);
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        let last = sent.entry(digest.to_string()).or_insert(0);
        if done < total && done < *last + step {
            return;
        }
        *last = done;
        drop(sent);
        self.send(digest.to_string(), rbuild_llb::PullStatus::Downloading, done, total);
    }

    fn finished(&self, digest: &rbuild_image::oci_spec::image::Digest, size: u64, how: &str) {
        let status = if how == "exists" {
            rbuild_llb::PullStatus::Exists
        } else {
            rbuild_llb::PullStatus::Downloaded
        };
        self.send(digest.to_string(), status, size, size);
    }
}

impl PullEvents<'_> {
    fn send(&self, digest: String, status: rbuild_llb::PullStatus, done: u64, total: u64) {
        self.events.emit(rbuild_llb::EventKind::Pull(rbuild_llb::PullEvent {
            image: self.image.to_owned(),
            digest,
            status,
            done,
            total,
        }));
    }
}

impl StoreImages<'_> {
    /// The manifest digest `reference` names, or why there is none.
    fn resolve(&self, reference: &str) -> Result<String, String> {
        let Some(rest) = reference.strip_prefix("oci-layout://") else {
            let manifest = self.resolve_named(reference)?;
            let mut in_use = self.in_use.lock().unwrap_or_else(|p| p.into_inner());
            if !in_use.contains_key(&manifest) {
                let mark = self
                    .store
                    .mark_in_use(std::slice::from_ref(&manifest))
                    .map_err(|e| e.to_string())?;
                let _ = self.store.touch_image(&manifest);
                in_use.insert(manifest.clone(), mark);
            }
            return Ok(manifest);
        };
        let mut layouts = self.layouts.lock().unwrap_or_else(|p| p.into_inner());
        layouts.entry(reference.to_owned()).or_insert_with(|| self.in_layout(rest)).clone()
    }

    /// The manifest a name gives: the store's, or pulled (per `--pull`).
    fn resolve_named(&self, reference: &str) -> Result<String, String> {
        {
            let known = self.store.resolve(reference);
            match (self.pull, known) {
                (crate::PullPolicy::Never, None) => Err(format!(
                    "image {reference} is not in the store and --pull=never forbids pulling it; \
                     put it there with `rbuild pull` or `rbuild load -i FILE`"
                )),
                (crate::PullPolicy::Always, _) | (crate::PullPolicy::Missing, None) => {
                    let mut pulled = self.pulled.lock().unwrap_or_else(|p| p.into_inner());
                    pulled
                        .entry(reference.to_owned())
                        .or_insert_with(|| self.pull(reference))
                        .clone()
                }
                (_, Some(manifest)) => Ok(manifest),
            }
        }
    }

    /// Fetches `reference` from its registry (mirrors first) into the
    /// store and names it there.
    fn pull(&self, reference: &str) -> Result<String, String> {
        let parsed = rbuild_llb::Reference::parse(reference).map_err(|e| e.to_string())?;
        let client = self
            .registry
            .get_or_init(|| {
                rbuild_registry::Client::for_request(self.auth).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let progress = PullEvents { image: reference, events: self.events, sent: Mutex::default() };
        let warn = || {
            for warning in client.take_warnings() {
                self.events.warning(&format!("{reference}: {warning}"));
            }
        };
        let failed = |e: rbuild_registry::Error| {
            warn();
            format!("cannot pull {reference}: {e}")
        };
        let resolved = client.resolve(&parsed, None, self.blobs).map_err(failed)?;
        let digest = resolved.digest.to_string();
        progress.send(digest.clone(), rbuild_llb::PullStatus::Resolved, 0, 0);
        client.fetch_layers(&resolved, self.blobs, &progress).map_err(failed)?;
        warn();
        self.resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rbuild_llb::PulledImage { image: reference.to_owned(), digest });
        let manifest = resolved.manifest.digest().to_string();
        rbuild_image::images::record(
            self.store,
            self.blobs,
            &manifest,
            None,
            &[resolved.repo_digest()],
            &resolved.index().into_iter().collect::<Vec<_>>(),
        )
        .map_err(|e| e.to_string())?;
        if resolved.endpoints.first().is_some_and(|e| !e.mirror) {
            let repo = parsed.repository();
            for blob in std::iter::once(&resolved.config).chain(&resolved.layers) {
                let _ = self.store.add_blob_source(blob.digest().as_ref(), &repo);
            }
        }
        self.store.tag(reference, &manifest).map_err(|e| e.to_string())?;
        Ok(manifest)
    }

    fn in_layout(&self, rest: &str) -> Result<String, String> {
        let (rest, digest) = match rest.split_once('@') {
            Some((p, d)) => (p, Some(d)),
            None => (rest, None),
        };
        let last = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match rest[last..].rfind(':') {
            Some(i) => (&rest[..last + i], Some(&rest[last + i + 1..])),
            None => (rest, None),
        };
        // Inside the context only: `..` stops at its root and links resolve
        // within it, like every other path a Dockerfile names.
        let dir = rbuild_runtime::resolve_in_root(self.context, path)
            .map_err(|e| format!("oci-layout://{path}: {e}"))?;
        let images = rbuild_image::import(self.blobs, &dir)
            .map_err(|e| format!("oci-layout://{path}: {e}"))?;
        let matching = |i: &&rbuild_image::ImportedImage| match (digest, tag) {
            (Some(d), _) => i.manifest.digest().to_string() == d,
            (None, Some(t)) => {
                i.ref_name.as_deref() == Some(t)
                    || i.name.as_deref().is_some_and(|n| n.ends_with(&format!(":{t}")))
            }
            (None, None) => true,
        };
        let mut found: Vec<_> = images.iter().filter(matching).collect();
        if found.len() > 1 && digest.is_none() && tag.is_none() {
            found.retain(|i| i.ref_name.as_deref() == Some("latest"));
        }
        match found.as_slice() {
            [one] => Ok(one.manifest.digest().to_string()),
            [] => Err(format!(
                "oci-layout://{path}: no image {} among its {} image(s)",
                digest.or(tag).unwrap_or("latest"),
                images.len()
            )),
            _ => Err(format!(
                "oci-layout://{path} holds {} images; name one with :TAG or @sha256:…",
                images.len()
            )),
        }
    }
}

impl rbuild_frontend::BaseImages for StoreImages<'_> {
    fn why_missing(&self, reference: &str) -> Option<String> {
        self.resolve(reference).err()
    }

    fn config(&self, reference: &str) -> Option<rbuild_llb::ContainerConfig> {
        let manifest = self.resolve(reference).ok()?;
        let digest = Digest::from_str(&manifest).ok()?;
        let config = rbuild_image::read_config(self.blobs, &digest).ok()?;
        Some(config.config.unwrap_or_default())
    }
}

/// The builder of each vertex: the solver asks it for keys, hits and misses.
impl<'a> Worker for Ctx<'a> {
    type Vertex = Vertex<'a>;
    type Output = State;
    type Record = Stored;
    type Prepared = Inputs;
    type Error = BuildError;

    fn cache_map(
        &self,
        vertex: &Vertex<'a>,
        inputs: &[State],
    ) -> Result<Option<(CacheMap, Inputs)>, BuildError> {
        match vertex {
            Vertex::Step { stage, ordinal, step } if !matches!(step.op, Op::Config) => {
                step_cache_map(self, *stage, *ordinal, step, inputs).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn run(&self, vertex: &Vertex<'a>, inputs: &[State], _: &Cancel) -> Result<State, BuildError> {
        match vertex {
            Vertex::Scratch => Ok(State {
                key: KeyBuilder::new().add(Kind::Op, "base", "scratch").finish().0,
                rootfs: Rootfs::Empty,
                layers: Chain::new(),
                history: Chain::new(),
            }),
            Vertex::Image(reference) => base_image(self, reference),
            Vertex::Step { step, .. } => {
                // Metadata only: the config is the plan's; the history grows,
                // dated as the state it describes.
                let mut state = parent_of(inputs)?.clone();
                if step.history.is_some() {
                    let created = match self.cfg.source_date_epoch {
                        Some(_) => None,
                        None => state.history.top().and_then(|h| h.created.clone()),
                    };
                    let created = created
                        .unwrap_or_else(|| rbuild_image::timestamp(self.cfg.source_date_epoch));
                    state.history.push(history(step, true, created));
                }
                Ok(state)
            }
        }
    }

    fn load(
        &self,
        vertex: &Vertex<'a>,
        inputs: &[State],
        key: CacheKey,
        record: Stored,
    ) -> Result<State, BuildError> {
        let Vertex::Step { stage, ordinal, step } = vertex else {
            return Err(BuildError::Internal("a cache hit for a source".into()));
        };
        let parent = parent_of(inputs)?;
        let info = step_info(self, *stage, *ordinal, step);
        self.events.cached(&info, record.bytes);
        let layer = record.layer.as_ref().map(layer_from_ref).transpose()?;
        self.done.lock().unwrap_or_else(|p| p.into_inner()).insert(
            (*stage, *ordinal),
            Done {
                key,
                layer,
                seconds: record.seconds,
                bytes: record.bytes,
                created: record.created,
            },
        );
        report(self, *stage, step, true, None, 0.0, record.bytes);
        let mut state = parent.clone();
        state.key = key;
        if let Some(layer) = &record.layer {
            let layer = layer_from_ref(layer)?;
            let link = matches!(step.op, Op::Copy { link: true, .. });
            match &record.snapshot {
                Some(id) if !link => state.rootfs = Rootfs::Snapshot(id.clone()),
                // A linked layer is stacked on this parent; a layer not
                // unpacked yet is unpacked on it when needed.
                _ => {
                    let what =
                        if link { format!("{} (stacked)", step.text) } else { step.text.clone() };
                    let (lazy_key, rootfs) =
                        Rootfs::lazy(&parent.rootfs, Some(parent.key), layer.clone(), link, &what);
                    if link {
                        state.key = lazy_key;
                    }
                    state.rootfs = rootfs;
                }
            }
            state.layers.push(layer);
        }
        let created = step_time(self.cfg.source_date_epoch, record.created);
        state.history.push(history(step, false, created));
        self.remember(*stage, *ordinal, &state);
        Ok(state)
    }

    fn exec(
        &self,
        vertex: &Vertex<'a>,
        inputs: &[State],
        key: CacheKey,
        miss: &Miss,
        prepared: Inputs,
        cancel: &Cancel,
    ) -> Result<(State, Stored), BuildError> {
        let Vertex::Step { stage, ordinal, step } = vertex else {
            return Err(BuildError::Internal("a cache miss for a source".into()));
        };
        let (state, stored) =
            step_miss(self, (*stage, *ordinal, step), inputs, key, miss, prepared, cancel)?;
        self.remember(*stage, *ordinal, &state);
        let layer = stored.layer.as_ref().map(layer_from_ref).transpose()?;
        self.done.lock().unwrap_or_else(|p| p.into_inner()).insert(
            (*stage, *ordinal),
            Done {
                key,
                layer,
                seconds: stored.seconds,
                bytes: stored.bytes,
                created: stored.created,
            },
        );
        Ok((state, stored))
    }

    fn store_failed(&self, _: &Vertex<'a>, why: String) -> BuildError {
        BuildError::Internal(format!("storing a cache record: {why}"))
    }
}

impl Ctx<'_> {
    /// Keeps the state step (`stage`, `ordinal`) came to, for the build's
    /// record.
    fn remember(&self, stage: usize, ordinal: usize, state: &State) {
        if let Some(key) = self.vertex_keys.get(&(stage, ordinal)) {
            let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
            states.insert(key.clone(), state.clone());
        }
    }

    /// A step's state as the build's record keeps it.
    fn step_state(&self, stage: usize, step: &Step, state: Option<&State>) -> StepState {
        let after = step.after.clone().unwrap_or_default();
        StepState {
            stage: stage_label(self.plan, stage),
            line: step.line,
            end_line: step.end_line,
            instruction: step.text.clone(),
            snapshot: state.and_then(|s| made_snapshot(&s.rootfs)),
            layers: state
                .map(|s| s.layers.to_vec().iter().map(layer_ref).collect())
                .unwrap_or_default(),
            env: after.env,
            cwd: after.cwd,
            user: after.user,
            shell: after.shell,
        }
    }
}

/// The snapshot holding `rootfs` if it is unpacked; never unpacks.
fn made_snapshot(rootfs: &Rootfs) -> Option<SnapshotId> {
    match rootfs {
        Rootfs::Empty => None,
        Rootfs::Snapshot(id) => Some(id.clone()),
        Rootfs::Lazy(lazy) => lazy.made.get().and_then(|m| m.as_ref().ok()).cloned(),
    }
}

/// The record of this build for `rbuild debug last`: each step with files
/// that came to a state, in plan order, and the failed RUN.
fn last_build(ctx: &Ctx<'_>) -> LastBuild {
    let states = ctx.states.lock().unwrap_or_else(|p| p.into_inner());
    let mut steps = Vec::new();
    for (index, stage) in ctx.plan.stages.iter().enumerate().filter(|(_, s)| s.needed) {
        for (ordinal, step) in stage.steps.iter().enumerate() {
            let state = ctx.vertex_keys.get(&(index, ordinal)).and_then(|k| states.get(k));
            if let (Some(_), Some(state)) = (&step.after, state) {
                steps.push(ctx.step_state(index, step, Some(state)));
            }
        }
    }
    LastBuild {
        dockerfile: ctx.cfg.dockerfile_label(),
        image: None,
        steps,
        failed: ctx.failed.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    }
}

/// Whether `error` (or one of its causes) is ENOSPC.
fn no_space(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<std::io::Error>().and_then(std::io::Error::raw_os_error) == Some(ENOSPC)
            || e.to_string().contains("No space left on device")
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// ENOSPC: 28 on every Linux architecture.
const ENOSPC: i32 = 28;

fn parent_of(inputs: &[State]) -> Result<&State, BuildError> {
    inputs.first().ok_or_else(|| BuildError::Internal("a step without a parent".into()))
}

fn step_info(ctx: &Ctx<'_>, stage: usize, ordinal: usize, step: &Step) -> StepInfo {
    StepInfo {
        vertex: format!("{stage}.{ordinal}"),
        stage: stage_label(ctx.plan, stage),
        line: step.line,
        instruction: step.text.clone(),
    }
}

/// What a step's key is made of: the operation and what it reads (context
/// files, fetched URLs and commits by content) as named components, and its
/// inputs — the parent (left out for `COPY --link`, whose layer is made on
/// an empty root so a changed base reuses it) and the stages or images it
/// copies or mounts from.
fn step_cache_map(
    ctx: &Ctx<'_>,
    stage: usize,
    ordinal: usize,
    step: &Step,
    inputs: &[State],
) -> Result<(CacheMap, Inputs), BuildError> {
    // The key, from the parent, the operation and what it reads. COPY
    // --link's layer is made on an empty root, so its key leaves the
    // parent out and a changed base reuses it (stacked anew).
    let link = matches!(step.op, Op::Copy { link: true, .. });
    let mut b = KeyBuilder::new();
    let mut deps = vec![if link { Dep::ignored() } else { Dep::keyed("parent") }];
    let mut prepared = Inputs::default();
    match &step.op {
        Op::Run { args, env, cwd, user, mounts, network, security, files, .. } => {
            b.add(Kind::Op, "command", Fields::new("argv").list("args", args).finish());
            for kv in env {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                b.add(Kind::Var, k, v);
            }
            b.add(Kind::Op, "workdir", cwd.clone());
            b.add(Kind::Op, "user", user.clone());
            b.add(Kind::Op, "network", network.as_str());
            b.add(Kind::Op, "security", security.as_str());
            // (Only when given, so every other key stays as it was.)
            if !ctx.cfg.extra_hosts.is_empty() {
                let entries: Vec<String> =
                    ctx.cfg.extra_hosts.iter().map(|h| format!("{}={}", h.host, h.ip)).collect();
                b.add(
                    Kind::Op,
                    "extra hosts",
                    Fields::new("hosts").list("entries", &entries).finish(),
                );
            }
            for (i, m) in mounts.iter().enumerate() {
                b.add(Kind::Op, format!("mount {i}"), m.spec.key_text());
                if let (RunMount::Bind { source, .. }, None) = (&m.spec, &m.from) {
                    let prefix = format!("mount {i}: ");
                    let listing =
                        context_files(ctx, step, std::slice::from_ref(source), &prefix, &mut b)?;
                    prepared.context_binds.insert(i, listing);
                }
            }
            for i in 1..inputs.len() {
                deps.push(Dep::keyed(format!("mount source {i}")));
            }
            for f in files {
                let text =
                    Fields::new("file").mode("mode", f.mode).str("content", &f.content).finish();
                b.add(Kind::Op, format!("file {}", f.path), text);
            }
        }
        Op::Copy {
            add,
            sources,
            dest,
            chown,
            chmod,
            link,
            parents,
            exclude,
            heredocs,
            checksum,
            keep_git_dir,
            unpack,
            ..
        } => {
            if *add {
                if let Some(git) = sources.iter().find(|s| rbuild_llb::is_git(s)) {
                    if sources.len() > 1 {
                        return Err(step_failed(
                            ctx,
                            step,
                            "ADD of a git repository takes no other source; split it in two",
                        ));
                    }
                    let got = crate::git::fetch(
                        &ctx.store.downloads_dir(),
                        &ctx.store.tmp_dir(),
                        git,
                        *keep_git_dir,
                        checksum.as_deref(),
                    )
                    .map_err(|e| step_failed(ctx, step, format!("{e:#}")))?;
                    b.add(
                        Kind::File,
                        rbuild_llb::redact_credentials(git).into_owned(),
                        Fields::new("git")
                            .str("commit", &got.commit)
                            .str("subdir", &got.subdir)
                            .bool("keep_git_dir", *keep_git_dir)
                            .finish(),
                    );
                    prepared.git = Some(got);
                }
                let urls = sources.iter().filter(|s| rbuild_llb::is_http(s)).count();
                if urls > 0 && urls < sources.len() {
                    return Err(step_failed(
                        ctx,
                        step,
                        "ADD of URLs and context files together is not supported yet; split it in two",
                    ));
                }
                if urls > 0 && prepared.git.is_none() {
                    let sum = match checksum {
                        Some(c) => Some(
                            crate::fetch::parse_checksum(c)
                                .map_err(|e| step_failed(ctx, step, e))?,
                        ),
                        None => None,
                    };
                    for url in sources {
                        let got = crate::fetch::fetch(
                            &ctx.store.downloads_dir(),
                            &ctx.store.tmp_dir(),
                            url,
                            sum.as_deref(),
                        )
                        .map_err(|e| step_failed(ctx, step, format!("{e:#}")))?;
                        b.add(
                            Kind::File,
                            rbuild_llb::redact_credentials(url).into_owned(),
                            Fields::new("download")
                                .str("digest", &got.digest)
                                .str("filename", &got.filename)
                                .opt("last_modified", got.last_modified.as_deref())
                                .finish(),
                        );
                        prepared.downloads.push(got);
                    }
                }
            }
            b.add(
                Kind::Op,
                "copy",
                Fields::new("copy")
                    .bool("add", *add)
                    .str("dest", dest)
                    .opt("chown", chown.as_deref())
                    .opt("chmod", chmod.as_ref().map(ToString::to_string).as_deref())
                    .bool("link", *link)
                    .bool("parents", *parents)
                    .list("exclude", exclude)
                    .opt("unpack", unpack.map(|u| if u { "true" } else { "false" }))
                    .finish(),
            );
            // Credentials in URLs stay out of the key and its records: the
            // content fetched with them is what counts.
            let shown: Vec<_> = sources.iter().map(|s| rbuild_llb::redact_credentials(s)).collect();
            b.add(Kind::Op, "sources", Fields::new("sources").list("paths", &shown).finish());
            for (name, content) in heredocs {
                b.add(
                    Kind::File,
                    format!("<<{name}"),
                    blake3::hash(content.as_bytes()).to_hex().to_string(),
                );
            }
            match inputs.get(1) {
                Some(_) => {
                    deps.push(Dep::keyed("from"));
                    // Unpacked only if the step runs: a hit never needs it.
                    prepared.copy_from = true;
                }
                None if !prepared.downloads.is_empty() || prepared.git.is_some() => {}
                None if heredocs.is_empty() => {
                    context_files(ctx, step, sources, "", &mut b)?;
                    prepared.copy_source = Some(CopySource::Context {
                        dir: ctx.cfg.context.clone(),
                        dockerignore: ctx.dockerignore.clone(),
                    });
                }
                None => {}
            }
        }
        Op::Workdir { path, user } => {
            b.add(Kind::Op, "workdir", path.clone());
            b.add(Kind::Op, "user", user.clone());
        }
        Op::Config => {
            return Err(BuildError::Internal("a metadata step has no cache map".into()));
        }
    }
    let op = b.finish().1;
    let no_cache = ctx.plan.stages[stage]
        .name
        .as_deref()
        .filter(|name| ctx.cfg.no_cache_filter.iter().any(|f| f.eq_ignore_ascii_case(name)))
        .map(|name| format!("--no-cache-filter {name}"));
    let identity = Some(step_identity(ctx, stage, ordinal));
    Ok((CacheMap { op, deps, identity, no_cache }, prepared))
}

/// Unpacks each layer of a store image into a snapshot (once: snapshots
/// are cached by layer), stacked in order.
fn base_image(ctx: &Ctx<'_>, reference: &str) -> Result<State, BuildError> {
    let manifest = ctx.images.resolve(reference).map_err(BuildError::Unsupported)?;
    let digest = Digest::from_str(&manifest)
        .map_err(|e| BuildError::Internal(format!("{manifest}: {e}")))?;
    let layers = rbuild_image::read_layers(ctx.blobs, &digest)?;
    let config = rbuild_image::read_config(ctx.blobs, &digest)?;
    // Unpacked only when a step runs on it: a build that hits every step
    // never unpacks its base.
    let (mut rootfs, mut parent_key) = (Rootfs::Empty, None);
    let what = format!("a layer of {reference}");
    for layer in &layers {
        let (key, lazy) = Rootfs::lazy(&rootfs, parent_key, layer.clone(), false, &what);
        (rootfs, parent_key) = (lazy, Some(key));
    }
    let key = KeyBuilder::new().add(Kind::Op, "image", manifest.clone()).finish().0;
    // `history` is optional in OCI: a base with fewer entries than layers
    // (none at all, say) gets blank ones in front, as BuildKit normalizes
    // it, so the built image's history still matches its layers.
    let mut history = config.history;
    let with_layer = history.iter().filter(|h| !h.empty_layer).count();
    if with_layer < layers.len() {
        let blank = History {
            created: None,
            created_by: None,
            author: None,
            comment: None,
            empty_layer: false,
        };
        let missing = layers.len() - with_layer;
        history.splice(0..0, std::iter::repeat_n(blank, missing));
    }
    Ok(State { key, rootfs, layers: Chain::from_vec(layers), history: Chain::from_vec(history) })
}

fn step_failed(ctx: &Ctx<'_>, step: &Step, message: impl std::fmt::Display) -> BuildError {
    StepError::Failed {
        dockerfile: ctx.cfg.dockerfile_label(),
        line: step.line,
        instruction: step.text.clone(),
        message: message.to_string(),
    }
    .into()
}

/// What a step that misses needs besides its op: where COPY reads from,
/// and the filtered context of each `RUN --mount=type=bind` without `from`.
#[derive(Default)]
struct Inputs {
    copy_source: Option<CopySource>,
    /// COPY reads its second input (`--from`), unpacked when it runs.
    copy_from: bool,
    context_binds: BTreeMap<usize, rbuild_context::Listing>,
    /// Files `ADD <URL>` fetched, in source order.
    downloads: Vec<crate::fetch::Download>,
    /// The commit `ADD <git URL>` checked out.
    git: Option<crate::git::Checkout>,
}

/// The context files `sources` select (through `.dockerignore`), each
/// added to the key by content, mode and kind — never mtime.
fn context_files(
    ctx: &Ctx<'_>,
    step: &Step,
    sources: &[String],
    prefix: &str,
    b: &mut KeyBuilder,
) -> Result<rbuild_context::Listing, BuildError> {
    rbuild_context::Selection::new(sources).map_err(|e| step_failed(ctx, step, e))?;
    let followed = rbuild_context::follow_links(&ctx.cfg.context, sources)?;
    let selection =
        rbuild_context::Selection::new(&followed).map_err(|e| step_failed(ctx, step, e))?;
    let ignore = rbuild_context::IgnoreFile::parse(&ctx.dockerignore)?;
    let listing = rbuild_context::scan(&ctx.cfg.context, &ignore, &selection)?;
    let hashes = {
        let mut stat = ctx.stat_cache.lock().unwrap_or_else(|p| p.into_inner());
        rbuild_context::hash(&ctx.cfg.context, &listing, &mut stat)?
    };
    for h in &hashes.entries {
        b.add(
            Kind::File,
            format!("{prefix}{}", h.path),
            Fields::new("entry")
                .str("digest", &h.digest.to_string())
                .mode("mode", h.meta.mode & 0o7777)
                .str("kind", h.kind.as_str())
                .finish(),
        );
    }
    Ok(listing)
}

/// Which step of which build this is, to compare its key components with
/// the previous build's: the image name (or the context when untagged),
/// the Dockerfile's name, the stage and the step's place in it — not the
/// line, so an added comment does not lose the history, and not the
/// context's path when tagged, so a context copied elsewhere keeps it.
fn step_identity(ctx: &Ctx<'_>, stage: usize, ordinal: usize) -> String {
    let owner = match ctx.cfg.tags.first() {
        Some(tag) => Reference::parse(tag).map_or_else(|_| tag.clone(), |r| r.to_string()),
        None => ctx
            .cfg
            .context
            .canonicalize()
            .unwrap_or_else(|_| ctx.cfg.context.clone())
            .display()
            .to_string(),
    };
    let file = ctx
        .cfg
        .dockerfile
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{owner}|{file}|{}|{ordinal}", stage_label(ctx.plan, stage))
}

/// Runs a step that missed on a new snapshot over its parent's (over
/// nothing for `COPY --link`) and makes its layer.
fn step_miss(
    ctx: &Ctx<'_>,
    (stage, ordinal, step): (usize, usize, &Step),
    inputs: &[State],
    key: CacheKey,
    miss: &Miss,
    prepared: Inputs,
    cancel: &Cancel,
) -> Result<(State, Stored), BuildError> {
    let parent = parent_of(inputs)?;
    let epoch = ctx.cfg.source_date_epoch;
    let link = matches!(step.op, Op::Copy { link: true, .. });
    let info = step_info(ctx, stage, ordinal, step);
    let reason = miss.to_string();
    ctx.events.running(&info, &reason);
    let started = Instant::now();

    // Run it on a new snapshot over the parent's (over nothing for --link).
    let empty = State {
        key: parent.key,
        rootfs: Rootfs::Empty,
        layers: Chain::new(),
        history: Chain::new(),
    };
    let base = if link { &empty } else { parent };
    let snap = ctx.store.create_snapshot(snapshot_of(ctx, &base.rootfs)?.as_ref())?;
    let state_dir = ctx.store.state_dir().join(&snap.id);
    let result = execute(ctx, &info, step, base, &snap, &state_dir, prepared, inputs, cancel);
    if let Err(e) = result {
        match &e {
            BuildError::Step(StepError::RunFailed { code, log, .. }) => {
                // (The error names the log as shown; it was written in log_dir.)
                let written = |shown: &PathBuf| match (&ctx.cfg.log_dir, shown.file_name()) {
                    (Some(dir), Some(name)) => dir.join(name),
                    _ => shown.clone(),
                };
                let log = log
                    .as_ref()
                    .map(written)
                    .or_else(|| Some(state_dir.join(BUNDLE_STEP_LOG)).filter(|p| p.is_file()));
                failed_run(ctx, (stage, step, &info), base, snap, *code, log.as_deref());
            }
            _ => {
                ctx.store.discard_snapshot(snap);
                if ctx.cfg.failure_bundle.is_some() {
                    ctx.events.warning(&format!(
                        "{}: failed before a command ran: no failure bundle (one holds a failed \
                         RUN)",
                        info.label()
                    ));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&state_dir);
        let failure = match &e {
            BuildError::Step(s @ StepError::RunFailed { .. }) => s.summary(),
            BuildError::Step(s) => s.to_string(),
            other => crate::error_message(other),
        };
        ctx.events.failed(&info, started.elapsed().as_secs_f64(), &failure);
        return Err(e);
    }
    let _ = std::fs::remove_dir_all(&state_dir);
    let (layer, stats) = match rbuild_image::layer_from_dir(
        ctx.blobs,
        &snap.upper,
        &DiffOptions { source_date_epoch: epoch },
        Compression::None,
    ) {
        Ok(done) => done,
        Err(e) => {
            ctx.store.discard_snapshot(snap);
            let message = if no_space(&e) {
                format!(
                    "no space left on device while storing the layer of this step (the store is \
                     {})",
                    ctx.store.root().display()
                )
            } else {
                format!("storing the layer of this step: {e}")
            };
            ctx.events.failed(&info, started.elapsed().as_secs_f64(), &message);
            return Err(step_failed(ctx, step, message));
        }
    };
    let id = ctx.store.commit_snapshot(snap)?;
    let seconds = started.elapsed().as_secs_f64();
    let created = rbuild_cache::unix_now();
    let stored = Stored {
        snapshot: Some(id.clone()),
        layer: Some(layer_ref(&layer)),
        instruction: step.text.clone(),
        seconds,
        bytes: stats.content_bytes,
        created,
    };
    ctx.events.done(&info, seconds, stats.content_bytes);
    report(ctx, stage, step, false, Some(reason), seconds, stats.content_bytes);
    let mut state = parent.clone();
    state.key = key;
    state.rootfs = Rootfs::Snapshot(id);
    if link {
        let what = format!("{} (stacked)", step.text);
        let (key, rootfs) =
            Rootfs::lazy(&parent.rootfs, Some(parent.key), layer.clone(), true, &what);
        state.key = key;
        state.rootfs = rootfs;
    }
    state.layers.push(layer);
    state.history.push(history(step, false, step_time(epoch, created)));
    Ok((state, stored))
}

/// The log a failure bundle takes when `--log-dir` keeps none, in the
/// step's state directory.
const BUNDLE_STEP_LOG: &str = "step.log";

/// What a failed RUN leaves: its record for `rbuild debug last`, its state
/// kept (`--on-failure=keep`) or thrown away, and the failure bundle of the
/// build's first failed RUN.
fn failed_run(
    ctx: &Ctx<'_>,
    (stage, step, info): (usize, &Step, &StepInfo),
    parent: &State,
    snap: rbuild_cache::NewSnapshot,
    code: i32,
    log: Option<&Path>,
) {
    let Op::Run { args, mounts, network, .. } = &step.op else {
        ctx.store.discard_snapshot(snap);
        return;
    };
    let mut failed = FailedStep {
        step: ctx.step_state(stage, step, Some(parent)),
        command: args.clone(),
        code,
        network: network.as_str().to_owned(),
        secrets: Vec::new(),
        mounts: Vec::new(),
    };
    failed.step.snapshot = None;
    for m in mounts {
        match &m.spec {
            RunMount::Secret { id, .. } => failed.secrets.push(id.clone()),
            RunMount::Cache { target, .. } => failed.mounts.push(format!("cache {target}")),
            RunMount::Bind { target, .. } => failed.mounts.push(format!("bind {target}")),
            RunMount::Tmpfs { target, .. } => failed.mounts.push(format!("tmpfs {target}")),
            RunMount::Ssh { target, .. } => failed.mounts.push(format!("ssh {target}")),
        }
    }
    let mut first = ctx.failed.lock().unwrap_or_else(|p| p.into_inner());
    if first.is_some() {
        // Another step failed first: its failure is the one recorded.
        ctx.store.discard_snapshot(snap);
        return;
    }
    if let Some(dest) = &ctx.cfg.failure_bundle {
        let layers = parent.layers.to_vec();
        let bundled =
            layers.iter().try_for_each(|l| ctx.shared.ensure_blob(ctx.blobs, l)).and_then(|()| {
                crate::failure::write_bundle(
                    crate::failure::BundleParts {
                        blobs: ctx.blobs,
                        layers,
                        history: parent.history.to_vec(),
                        upper: &snap.upper,
                        created_by: step.history.clone(),
                        failed: failed.clone(),
                        dockerfile: ctx.cfg.dockerfile_label(),
                        log,
                        secrets: &ctx.cfg.secrets,
                        source_date_epoch: ctx.cfg.source_date_epoch,
                    },
                    dest,
                )
            });
        match bundled {
            Ok(()) => ctx.events.warning(&format!(
                "{}: failed; the failure bundle is {} (reopen it with rbuild debug {})",
                info.label(),
                ctx.cfg.shown_bundle(dest).display(),
                ctx.cfg.shown_bundle(dest).display()
            )),
            Err(e) => ctx.events.warning(&format!(
                "{}: cannot write the failure bundle {}: {}",
                info.label(),
                ctx.cfg.shown_bundle(dest).display(),
                crate::error_message(&e)
            )),
        }
    }
    if ctx.cfg.on_failure == OnFailure::Keep {
        match ctx.store.commit_snapshot(snap) {
            Ok(id) => {
                failed.step.snapshot = Some(id);
                ctx.events.warning(&format!(
                    "{}: failed; its state is kept in the store (open it with rbuild debug last)",
                    info.label()
                ));
            }
            Err(e) => {
                ctx.events.warning(&format!("{}: cannot keep the failed state: {e}", info.label()))
            }
        }
    } else {
        ctx.store.discard_snapshot(snap);
    }
    *first = Some(failed);
}

/// A snapshot of `layer` applied over `parent`, made once per key and
/// recorded in the cache: base image layers, stacked `COPY --link` layers.
pub(crate) fn applied_snapshot(
    (store, blobs): (&Store, &Blobs),
    parent: Option<&SnapshotId>,
    layer: &Layer,
    (key, components): (CacheKey, Vec<rbuild_llb::Component>),
    what: &str,
) -> Result<SnapshotId, BuildError> {
    if let Some(id) = store.cache_get(&key).and_then(|r| r.snapshot) {
        return Ok(id);
    }
    let snap = store.create_snapshot(parent)?;
    let applied = rbuild_image::open_layer(blobs, layer)
        .and_then(|tar| rbuild_image::apply(tar, &snap.upper).map_err(rbuild_image::Error::from));
    if let Err(e) = applied {
        store.discard_snapshot(snap);
        return Err(BuildError::Layer(format!("cannot unpack {what}: {e}")));
    }
    let id = store.commit_snapshot(snap)?;
    store.cache_put(&CacheRecord {
        key,
        components,
        snapshot: Some(id.clone()),
        layer: Some(layer_ref(layer)),
        instruction: what.to_owned(),
        seconds: 0.0,
        bytes: 0,
        created: rbuild_cache::unix_now(),
    })?;
    Ok(id)
}

fn report(
    ctx: &Ctx<'_>,
    stage: usize,
    step: &Step,
    cached: bool,
    reason: Option<String>,
    seconds: f64,
    bytes: u64,
) {
    let entry = StepReport {
        stage: stage_label(ctx.plan, stage),
        line: step.line,
        instruction: step.text.clone(),
        cached,
        reason,
        seconds,
        bytes,
    };
    ctx.reports.lock().unwrap_or_else(|p| p.into_inner()).push((stage, step.line, entry));
}

/// The mount that shows `resolved` at `target`, read-only unless `rw`, when
/// writes go to a throw-away overlay (a file mounted `rw` is a copy), so
/// nothing ever writes through to the store or the context.
fn bind_mount(
    resolved: rbuild_runtime::InLayers,
    rw: bool,
    target: &str,
    scratch: &Path,
) -> Result<Mount, BuildError> {
    let target = target.to_owned();
    Ok(match resolved {
        rbuild_runtime::InLayers::Dir(mut dirs) if dirs.len() == 1 && !rw => {
            Mount::Bind { source: dirs.remove(0), target, readonly: true }
        }
        rbuild_runtime::InLayers::Dir(lowers) => {
            Mount::Overlay { lowers, scratch: scratch.to_owned(), target, readonly: !rw }
        }
        rbuild_runtime::InLayers::Other(file) if rw => {
            std::fs::create_dir_all(scratch)?;
            let copy = scratch.join("file");
            std::fs::copy(&file, &copy)
                .map_err(io(format!("copying {} for a rw mount", file.display())))?;
            Mount::Bind { source: copy, target, readonly: false }
        }
        rbuild_runtime::InLayers::Other(file) => {
            Mount::Bind { source: file, target, readonly: true }
        }
    })
}

fn lowers(ctx: &Ctx<'_>, state: &State) -> Result<Vec<PathBuf>, BuildError> {
    Ok(match snapshot_of(ctx, &state.rootfs)? {
        Some(s) => ctx.store.chain(&s)?,
        None => Vec::new(),
    })
}

#[allow(clippy::too_many_arguments)]
fn execute(
    ctx: &Ctx<'_>,
    info: &StepInfo,
    step: &Step,
    parent: &State,
    snap: &rbuild_cache::NewSnapshot,
    state_dir: &Path,
    prepared: Inputs,
    inputs: &[State],
    cancel: &Cancel,
) -> Result<(), BuildError> {
    let mut spec = StepSpec {
        args: Vec::new(),
        env: Vec::new(),
        cwd: "/".into(),
        user: String::new(),
        hostname: "buildkitsandbox".into(),
        network: NetworkMode::Default,
        netns: None,
        terminal: false,
        rootfs: RootFs {
            lowers: lowers(ctx, parent)?,
            upper: snap.upper.clone(),
            work: snap.work.clone(),
            merged: snap.merged.clone(),
        },
        mounts: Vec::new(),
        secrets: Vec::new(),
        copy: None,
        resolv_conf: "/etc/resolv.conf".into(),
        hosts: "/etc/hosts".into(),
    };
    let mut leases = Vec::new();
    let scratch = state_dir.join("tmp");
    match &step.op {
        Op::Run { args, env, proxy_env, cwd, user, mounts, network, files, .. } => {
            // BuildKit's /etc/hosts, never this machine's.
            let hosts = state_dir.join("hosts");
            std::fs::create_dir_all(state_dir)
                .and_then(|()| {
                    std::fs::write(
                        &hosts,
                        rbuild_llb::hosts_file(&spec.hostname, &ctx.cfg.extra_hosts),
                    )
                })
                .map_err(crate::error::io("cannot write the step's /etc/hosts"))?;
            spec.hosts = hosts;
            spec.args = args.clone();
            spec.env = env.iter().chain(proxy_env).cloned().collect();
            spec.cwd = cwd.clone();
            spec.user = user.clone();
            spec.network = *network;
            let mut from_inputs = inputs.iter().skip(1);
            for (i, m) in mounts.iter().enumerate() {
                let from_state = if m.from.is_some() { from_inputs.next() } else { None };
                match &m.spec {
                    RunMount::Cache { target, id, sharing, mode, uid, gid, readonly, .. } => {
                        let owner = CacheOwner { mode: *mode, uid: *uid, gid: *gid };
                        ctx.shared.restore_mount(
                            &ctx.cache_mounts,
                            id,
                            owner,
                            ctx.blobs,
                            ctx.events,
                        );
                        let lease = ctx.cache_mounts.acquire(id, *sharing, owner)?;
                        spec.mounts.push(Mount::Bind {
                            source: lease.dir.clone(),
                            target: target.clone(),
                            readonly: *readonly,
                        });
                        leases.push(lease);
                    }
                    RunMount::Bind { target, source, rw, .. } => {
                        let (layers, what) = match from_state {
                            Some(s) => (lowers(ctx, s)?, "the source stage or image"),
                            None => {
                                let view = state_dir.join(format!("context-{i}"));
                                let listing = prepared.context_binds.get(&i).ok_or_else(|| {
                                    BuildError::Internal(
                                        "a context bind mount without its listing".into(),
                                    )
                                })?;
                                rbuild_context::materialize(&ctx.cfg.context, listing, &view)?;
                                (vec![view], "the build context")
                            }
                        };
                        let not_found = || {
                            step_failed(
                                ctx,
                                step,
                                format!("--mount=type=bind,source={source}: not found in {what}"),
                            )
                        };
                        let resolved = rbuild_runtime::resolve_in_layers(&layers, source)
                            .map_err(|e| {
                                step_failed(
                                    ctx,
                                    step,
                                    format!("--mount=type=bind,source={source}: {e}"),
                                )
                            })?
                            .ok_or_else(not_found)?;
                        let scratch_dir = scratch.join(format!("mount-{}", spec.mounts.len()));
                        spec.mounts.push(bind_mount(resolved, *rw, target, &scratch_dir)?);
                    }
                    RunMount::Tmpfs { target, size } => {
                        spec.mounts.push(Mount::Tmpfs { target: target.clone(), size: *size });
                    }
                    RunMount::Secret { id, target, env, required, mode, uid, gid } => {
                        if ctx.cfg.secrets.contains(id) {
                            spec.secrets.push(rbuild_runtime::SecretMount {
                                id: id.clone(),
                                target: target.clone(),
                                env: env.clone(),
                                mode: *mode,
                                uid: *uid,
                                gid: *gid,
                            });
                        } else if *required {
                            return Err(step_failed(
                                ctx,
                                step,
                                format!(
                                    "secret {id} is required; pass it with --secret id={id},src=FILE"
                                ),
                            ));
                        }
                    }
                    // Only an agent the build was given (--ssh): a
                    // Dockerfile never reaches this machine's on its own.
                    RunMount::Ssh { id, target, required, .. } => match ctx.cfg.ssh.get(id) {
                        Some(sock) => {
                            spec.mounts.push(Mount::Bind {
                                source: sock.clone(),
                                target: target.clone(),
                                readonly: false,
                            });
                            spec.env.push(format!("SSH_AUTH_SOCK={target}"));
                        }
                        None if *required => {
                            let flag = if id == "default" {
                                "--ssh default".to_owned()
                            } else {
                                format!("--ssh {id}=SOCKET")
                            };
                            return Err(step_failed(
                                ctx,
                                step,
                                format!(
                                    "no SSH agent {id:?} was forwarded to the build; pass {flag}"
                                ),
                            ));
                        }
                        None => {}
                    },
                }
            }
            if !files.is_empty() {
                let dir = state_dir.join("files");
                std::fs::create_dir_all(&dir)?;
                for (i, f) in files.iter().enumerate() {
                    let host = dir.join(i.to_string());
                    std::fs::write(&host, &f.content)?;
                    std::fs::set_permissions(
                        &host,
                        std::os::unix::fs::PermissionsExt::from_mode(f.mode),
                    )?;
                    spec.mounts.push(Mount::Bind {
                        source: host,
                        target: f.path.clone(),
                        readonly: true,
                    });
                }
            }
        }
        Op::Copy {
            add, sources, dest, chown, chmod, parents, exclude, heredocs, unpack, ..
        } => {
            let mut copy = CopySpec {
                sources: sources.clone(),
                dest: dest.clone(),
                chown: chown.clone(),
                chmod: chmod.clone(),
                parents: *parents,
                exclude: exclude.clone(),
                unpack: *add && unpack.unwrap_or(true),
                keep_owners: false,
            };
            let source = if let Some(got) = &prepared.git {
                copy.sources = vec![".".to_owned()];
                copy.unpack = false;
                CopySource::Context { dir: got.dir.clone(), dockerignore: String::new() }
            } else if !prepared.downloads.is_empty() {
                // Remote files are not unpacked unless --unpack says so.
                copy.unpack = unpack.unwrap_or(false);
                let dir = state_dir.join("downloads");
                std::fs::create_dir_all(&dir)?;
                copy.sources.clear();
                for got in &prepared.downloads {
                    let at = dir.join(&got.filename);
                    if at.exists() {
                        return Err(step_failed(
                            ctx,
                            step,
                            format!("two URLs download to the same name {}", got.filename),
                        ));
                    }
                    if std::fs::hard_link(&got.path, &at).is_err() {
                        std::fs::copy(&got.path, &at)?;
                    }
                    copy.sources.push(got.filename.clone());
                }
                CopySource::Context { dir, dockerignore: String::new() }
            } else if prepared.copy_from {
                let from = inputs
                    .get(1)
                    .ok_or_else(|| BuildError::Internal("COPY --from without its input".into()))?;
                CopySource::Layers { lowers: lowers(ctx, from)? }
            } else if heredocs.is_empty() {
                prepared
                    .copy_source
                    .ok_or_else(|| BuildError::Internal("COPY without a source".into()))?
            } else {
                let dir = state_dir.join("heredocs");
                std::fs::create_dir_all(&dir)?;
                copy.sources.clear();
                for (name, content) in heredocs {
                    std::fs::write(dir.join(name), content)?;
                    copy.sources.push(name.clone());
                }
                CopySource::Context { dir, dockerignore: String::new() }
            };
            spec.copy = Some(CopyAction { spec: copy, source });
        }
        Op::Workdir { path, user } => {
            let chown = (!user.is_empty()).then(|| user.clone());
            spec.copy = Some(CopyAction {
                spec: CopySpec { dest: path.clone(), chown, ..CopySpec::default() },
                source: CopySource::Context {
                    dir: state_dir.to_owned(),
                    dockerignore: String::new(),
                },
            });
        }
        Op::Config => {}
    }

    let mut tail: Vec<String> = Vec::new();
    let (log_path, mut log) = if matches!(step.op, Op::Run { .. }) {
        open_step_log(ctx, info, state_dir)
    } else {
        (None, None)
    };
    let status = ctx.executor.run(&spec, &ctx.cfg.secrets, state_dir, cancel, |stream, line| {
        if let Some(file) = log.as_mut()
            && let Err(e) = std::io::Write::write_all(file, line)
        {
            ctx.events.warning(&format!("{}: cannot write the step's log: {e}", info.label()));
            log = None;
        }
        let text = String::from_utf8_lossy(line).trim_end().to_owned();
        ctx.events.log(info, stream, &text);
        tail.push(text);
        if tail.len() > 20 {
            tail.remove(0);
        }
    });
    drop(log);
    drop(leases);
    let status = status.map_err(|e| step_failed(ctx, step, e))?;
    if !status.success()
        && let OnFailure::Shell(command) = &ctx.cfg.on_failure
    {
        let shell = step.after.as_ref().map_or(&[][..], |a| a.shell.as_slice());
        let command = match command {
            Some(c) => crate::failure::shell_command(shell, c),
            None => crate::failure::interactive_shell(shell),
        };
        debug_shell(ctx, info, &spec, state_dir, &command, cancel);
    }
    if !status.success() {
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!("\n  last output:\n    {}", tail.join("\n    "))
        };
        return Err(StepError::RunFailed {
            dockerfile: ctx.cfg.dockerfile_label(),
            line: step.line,
            instruction: step.text.clone(),
            code: status.code,
            tail,
            log: log_path.map(|p| ctx.cfg.shown_log(&p)),
        }
        .into());
    }
    Ok(())
}

/// `--on-failure=shell`: `command` on the terminal, on the failed step's
/// state (its upper directory over its parents, read-only, under a
/// writable layer thrown away after) with the step's env, workdir, user,
/// network and mounts.
fn debug_shell(
    ctx: &Ctx<'_>,
    info: &StepInfo,
    spec: &StepSpec,
    state_dir: &Path,
    command: &[String],
    cancel: &Cancel,
) {
    let dir = state_dir.join("debug");
    let mut debug = spec.clone();
    debug.args = command.to_vec();
    debug.rootfs.lowers.insert(0, spec.rootfs.upper.clone());
    debug.rootfs.upper = dir.join("upper");
    debug.rootfs.work = dir.join("work");
    debug.rootfs.merged = dir.join("merged");
    ctx.events.warning(&format!(
        "{}: failed; a shell in its state follows (`exit` goes on with the build)",
        info.label()
    ));
    let ran = ctx.executor.run_interactive(&debug, &ctx.cfg.secrets, &dir.join("state"), cancel);
    if let Err(e) = ran {
        ctx.events.warning(&format!("{}: the shell could not start: {e}", info.label()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The file of `--log-dir` that takes the step's whole output (stdout and
/// stderr as they come), named by stage, line and vertex; a directory that
/// cannot take it is a warning, not a failed build. Without `--log-dir`, a
/// build with `--failure-bundle` logs to the step's state directory (and
/// names no file).
fn open_step_log(
    ctx: &Ctx<'_>,
    info: &StepInfo,
    state_dir: &Path,
) -> (Option<PathBuf>, Option<std::io::BufWriter<std::fs::File>>) {
    let Some(dir) = &ctx.cfg.log_dir else {
        if ctx.cfg.failure_bundle.is_none() {
            return (None, None);
        }
        let path = state_dir.join(BUNDLE_STEP_LOG);
        return match std::fs::create_dir_all(state_dir).and_then(|()| std::fs::File::create(&path))
        {
            Ok(file) => (None, Some(std::io::BufWriter::new(file))),
            Err(e) => {
                ctx.events.warning(&format!("{}: cannot log the step: {e}", info.label()));
                (None, None)
            }
        };
    };
    let safe = |text: &str| -> String {
        text.chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
            .collect()
    };
    let path =
        dir.join(format!("{}-line{}-{}.log", safe(&info.stage), info.line, safe(&info.vertex)));
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::File::create(&path)) {
        Ok(file) => (Some(path), Some(std::io::BufWriter::new(file))),
        Err(e) => {
            ctx.events.warning(&format!(
                "{}: cannot write {}: {e}",
                info.label(),
                ctx.cfg.shown_log(&path).display()
            ));
            (None, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// The keys of a fixed RUN and a fixed COPY, pinned: a change of the
    /// encoding anywhere (a renamed field or variant, another order) fails
    /// here, loudly, instead of silently emptying every user's cache.
    #[test]
    fn the_keys_of_a_fixed_run_and_copy_are_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let context = dir.path().join("ctx");
        std::fs::create_dir_all(&context).unwrap();
        let file = context.join("a.txt");
        std::fs::write(&file, "hello\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let dockerfile = context.join("Dockerfile");
        let source = "FROM scratch\nENV A=1\nRUN --mount=type=cache,target=/c --network=none \
                      echo hi\nCOPY --chmod=0640 a.txt /dst/\n";
        std::fs::write(&dockerfile, source).unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let blobs = Blobs::new(store.root()).unwrap();
        let recorder = rbuild_llb::Recorder::default();
        let events = Emitter::new(&recorder);
        let images = StoreImages {
            store: &store,
            blobs: &blobs,
            context: &context,
            layouts: Mutex::default(),
            pull: crate::PullPolicy::Never,
            pulled: Mutex::default(),
            registry: std::sync::OnceLock::new(),
            auth: None,
            events: &events,
            resolved: Mutex::default(),
            in_use: Mutex::default(),
        };
        let df = rbuild_syntax::parse(source).unwrap();
        let options = rbuild_frontend::BuildOptions {
            platform: Platform { os: "linux".into(), arch: "amd64".into(), variant: String::new() },
            ..Default::default()
        };
        let plan = rbuild_frontend::plan(&df, source, &options, &images).unwrap();
        let cfg = BuildRequest::new(&context, &dockerfile).tag("pinned:1");
        let ctx = Ctx {
            cfg: &cfg,
            plan: &plan,
            store: &store,
            blobs: &blobs,
            executor: Executor::new("/nonexistent"),
            cache_mounts: CacheMounts::new(store.cache_mounts_dir()),
            dockerignore: String::new(),
            stat_cache: Mutex::new(rbuild_context::StatCache::default()),
            reports: Mutex::new(Vec::new()),
            events: &events,
            images: &images,
            stage_vertex: vec![None],
            shared: &SharedCache::new(&[], None),
            done: Mutex::default(),
            vertex_keys: BTreeMap::new(),
            states: Mutex::default(),
            failed: Mutex::default(),
        };
        let scratch = ctx.run(&Vertex::Scratch, &[], &Cancel::new()).unwrap();
        let steps = &plan.stages[0].steps;
        let key_of = |step: &Step, parent: &State| {
            let (map, _) = step_cache_map(&ctx, 0, 0, step, std::slice::from_ref(parent)).unwrap();
            rbuild_solver::cache_key(&map, &[parent.key]).0
        };
        let run = key_of(&steps[1], &scratch);
        let after_run = State { key: run, ..scratch.clone() };
        let copy = key_of(&steps[2], &after_run);
        assert_eq!(
            (run.to_string(), copy.to_string()),
            (
                "2153f51c2441e3d3abb24c923e0650b5cf2ab2e8ca62cd9785ec201c64c7a367".to_owned(),
                "936556cb4d4c9b78a96980d962e457e46b281b0b5066e12e06aa7ccf6374ba80".to_owned()
            )
        );
    }
}
