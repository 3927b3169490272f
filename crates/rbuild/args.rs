//! Command-line arguments, as clap reads them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Build OCI images from Dockerfiles, fast, with a cache that explains itself.
#[derive(Debug, Parser)]
#[command(name = "rbuild", version, about)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Parse a Dockerfile and print its syntax tree.
    Parse(ParseArgs),
    /// Inspect a build context.
    #[command(subcommand)]
    Context(ContextCommand),
    /// Check Dockerfiles for layer bloat, unpinned images and BuildKit's warnings.
    Lint(LintArgs),
    /// Build an image from a Dockerfile and a context directory.
    Build(Box<BuildArgs>),
    /// Put the images of a docker-archive, OCI archive or OCI layout in the store.
    Load(LoadArgs),
    /// Write images, with their layers, history and names, as one archive.
    Save(SaveArgs),
    /// Write an image's merged root file system as one tar (no history).
    Export(ExportArgs),
    /// Make a one-layer image from a root file system tar.
    Import(ImportArgs),
    /// Empty the build cache (with -a, also every image).
    Prune(PruneArgs),
    /// Download an image from a registry into the store.
    Pull(PullArgs),
    /// Upload an image of the store to a registry.
    Push(PushArgs),
    /// Save credentials for a registry where the docker CLI keeps them.
    Login(LoginArgs),
    /// Forget the credentials for a registry.
    Logout(LogoutArgs),
    /// List the images of the store.
    Images(ImagesArgs),
    /// Give an image of the store another name.
    Tag(TagArgs),
    /// Untag images, and delete those no name refers to any more.
    Rmi(RmiArgs),
    /// Manage images (docker's `image` commands).
    #[command(subcommand)]
    Image(ImageCommand),
    /// Show the history of an image: one row per build step.
    History(HistoryArgs),
    /// The store as a whole (`system df`, `system prune`).
    #[command(subcommand)]
    System(SystemCommand),
    /// The build cache (`builder prune`).
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// The store itself (`store check`).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Answer the Docker Engine API, so the docker CLI and SDKs build through rbuild.
    Serve(ServeArgs),
    /// Open a shell in the state after any step of an image (or of the last build).
    Debug(DebugArgs),
}

/// `rbuild debug`.
#[derive(Debug, clap::Args)]
pub(crate) struct DebugArgs {
    /// The state after this step of the image's history (1-based, oldest first, as
    /// `rbuild history` lists them from the bottom); default the last.
    #[arg(long, conflicts_with = "line")]
    pub(crate) step: Option<usize>,
    /// With `last`: the state after the instruction on this line of the Dockerfile
    /// (the failed step's own state when it was kept).
    #[arg(long)]
    pub(crate) line: Option<usize>,
    /// An image name or id; `last`: the last build in this store (its failed step's
    /// state when kept, else its image); or a failure bundle file.
    pub(crate) target: String,
    /// What to run instead of the state's SHELL (/bin/sh); without a terminal, only a
    /// command runs, its output copied.
    #[arg(last = true)]
    pub(crate) command: Vec<String>,
}

/// `rbuild serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Where to listen: unix:///PATH or tcp://127.0.0.1:PORT (repeatable).
    #[arg(short = 'H', long = "host", default_value = "unix:///run/rbuild.sock")]
    pub(crate) hosts: Vec<String>,
    /// The group a unix socket belongs to (mode 0660); default `rbuild` when the
    /// machine has that group, else root's.
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// The largest build context a request may unpack to, such as 16g.
    #[arg(long, default_value = "16g")]
    pub(crate) max_context_size: String,
    /// TLS on TCP listeners, every client's certificate verified against --tlscacert
    /// (needed to listen beyond loopback).
    #[arg(long)]
    pub(crate) tlsverify: bool,
    /// The CA (PEM) client certificates must chain to.
    #[arg(long)]
    pub(crate) tlscacert: Option<PathBuf>,
    /// The server's certificate (PEM).
    #[arg(long)]
    pub(crate) tlscert: Option<PathBuf>,
    /// The server's private key (PEM).
    #[arg(long)]
    pub(crate) tlskey: Option<PathBuf>,
}

/// `rbuild store …`.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Verify every blob, image, name, cache record and snapshot of the store.
    Check(StoreCheckArgs),
}

/// `rbuild store check [--repair]`.
#[derive(Debug, clap::Args)]
pub(crate) struct StoreCheckArgs {
    /// Delete what is damaged and forget what depends on it, so it is built
    /// or pulled again.
    #[arg(long)]
    pub(crate) repair: bool,
}

/// `rbuild builder …`.
#[derive(Debug, Subcommand)]
pub(crate) enum BuilderCommand {
    /// Remove build cache: all of it, or the least recently used down to a budget.
    Prune(BuilderPruneArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct BuilderPruneArgs {
    /// All build cache (there is no other kind here; accepted as docker's).
    #[arg(short = 'a', long)]
    pub(crate) all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
    /// Keep at most this much build cache (`10MB`, `1GB`: binary units, as docker).
    #[arg(long, value_name = "SIZE")]
    pub(crate) keep_storage: Option<String>,
    /// until=DURATION|TIMESTAMP: only what was last used before it.
    #[arg(long = "filter", value_name = "FILTER")]
    pub(crate) filters: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SystemPruneArgs {
    /// Every unused image, not only dangling ones.
    #[arg(short = 'a', long)]
    pub(crate) all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
}

/// `rbuild system …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SystemCommand {
    /// Show the disk the images, the build cache and the cache mounts take.
    Df(DfArgs),
    /// Remove dangling (with -a, unused) images and the build cache.
    Prune(SystemPruneArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct DfArgs {
    /// Per image: its shared and unique size.
    #[arg(short = 'v', long)]
    pub(crate) verbose: bool,
}

/// `rbuild image …`: the same commands under docker's management names.
#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// List images (as `rbuild images`).
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Remove images (as `rbuild rmi`).
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Name an image (as `rbuild tag`).
    Tag(TagArgs),
    /// Show images in detail, as docker's JSON.
    Inspect(InspectArgs),
    /// Show the history of an image (as `rbuild history`).
    History(HistoryArgs),
    /// Remove dangling images (with -a, every image no build is using).
    Prune(ImagePruneArgs),
    /// Write images as one archive (as `rbuild save`).
    Save(SaveArgs),
    /// Read images from an archive (as `rbuild load`).
    Load(LoadArgs),
    /// Make a one-layer image from a tar (as `rbuild import`).
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub(crate) output: Option<PathBuf>,
    /// The image: a name or an id.
    pub(crate) image: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// A Dockerfile instruction for the config: CMD, ENTRYPOINT, ENV, EXPOSE,
    /// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR.
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub(crate) changes: Vec<String>,
    /// The history comment (default: `Imported from -` or the URL).
    #[arg(short = 'm', long)]
    pub(crate) message: Option<String>,
    /// A tar (plain or compressed), an http(s) URL, or `-` for stdin.
    pub(crate) source: String,
    /// The name the image gets, `REPOSITORY[:TAG]`.
    pub(crate) reference: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SaveArgs {
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub(crate) output: Option<PathBuf>,
    /// docker (what `docker load` reads; also an OCI layout) or oci.
    #[arg(long, default_value = "docker", value_parser = ["docker", "oci"])]
    pub(crate) format: String,
    /// Images: `name:tag`, a repository (every tag of it), or an id.
    #[arg(required = true)]
    pub(crate) images: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImagePruneArgs {
    /// Remove every image no running build uses, not only dangling ones.
    #[arg(short = 'a', long)]
    pub(crate) all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
    /// until=DURATION|TIMESTAMP (older than), label=KEY[=VALUE].
    #[arg(long = "filter", value_name = "FILTER")]
    pub(crate) filters: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// A Go template applied to each image (`{{.Config.Env}}`, `{{json .RootFS}}`).
    #[arg(short = 'f', long)]
    pub(crate) format: Option<String>,
    /// IMAGE...
    #[arg(required = true)]
    pub(crate) images: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// Do not truncate the output.
    #[arg(long)]
    pub(crate) no_trunc: bool,
    /// Only show image IDs.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
    /// table, json, or a Go template (`{{.CreatedBy}}`).
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// IMAGE
    pub(crate) image: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImagesArgs {
    /// Show all images (by default, images only other images are built on are hidden).
    #[arg(short = 'a', long)]
    pub(crate) all: bool,
    /// Only show image IDs.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub(crate) digests: bool,
    /// Do not truncate IDs.
    #[arg(long)]
    pub(crate) no_trunc: bool,
    /// Filter: dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE, label=KEY[=VALUE].
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub(crate) filters: Vec<String>,
    /// table, json, or a Go template (`{{.Repository}}:{{.Tag}}`).
    #[arg(long)]
    pub(crate) format: Option<String>,
    /// REPOSITORY[:TAG]
    pub(crate) reference: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct TagArgs {
    /// SOURCE_IMAGE[:TAG] or an image ID.
    pub(crate) source: String,
    /// TARGET_IMAGE[:TAG]
    pub(crate) target: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RmiArgs {
    /// Remove an image with several names by its ID, or one a running build uses.
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
    /// Do not delete untagged parents.
    #[arg(long)]
    pub(crate) no_prune: bool,
    /// IMAGE...
    #[arg(required = true)]
    pub(crate) images: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PullArgs {
    /// The platform to pull from a multi-platform image (default: this machine's).
    #[arg(long)]
    pub(crate) platform: Option<String>,
    /// Print only the image's name.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub(crate) reference: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PushArgs {
    /// Print only the pushed digest.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
    /// NAME[:TAG]
    pub(crate) reference: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LoginArgs {
    /// User name.
    #[arg(short = 'u', long)]
    pub(crate) username: Option<String>,
    /// Password (prefer --password-stdin: a flag shows in the process list).
    #[arg(short = 'p', long)]
    pub(crate) password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub(crate) password_stdin: bool,
    /// The registry host (default: Docker Hub).
    #[arg(default_value = "docker.io")]
    pub(crate) server: String,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LogoutArgs {
    /// The registry host (default: Docker Hub).
    #[arg(default_value = "docker.io")]
    pub(crate) server: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ContextCommand {
    /// List every file and symlink `COPY . /dst` would copy, after .dockerignore.
    Ls(ContextLsArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ContextLsArgs {
    /// Show each size in bytes, and the total.
    #[arg(long)]
    pub(crate) size: bool,
    /// The Dockerfile, whose `<name>.dockerignore` beside it wins over the context's.
    #[arg(short = 'f', long = "file")]
    pub(crate) file: Option<PathBuf>,
    /// The build context directory.
    #[arg(default_value = ".")]
    pub(crate) context: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ParseArgs {
    /// Output format: BuildKit's Node.Dump() text, or the AST with spans as JSON.
    #[arg(long, value_enum, default_value_t = ParseFormat::Dump)]
    pub(crate) format: ParseFormat,
    /// The Dockerfile to parse.
    #[arg(default_value = "Dockerfile")]
    pub(crate) path: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ParseFormat {
    /// One s-expression per instruction, as BuildKit's parser tests print.
    Dump,
    /// The full AST, with a span (byte range, line, column) on every part.
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LintArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = LintFormat::Human)]
    pub(crate) format: LintFormat,
    /// Turn a rule off, by code (RB001), name (run-cd) or alias (DL3003); repeatable.
    #[arg(long, value_name = "RULE")]
    pub(crate) ignore: Vec<String>,
    /// Exit with 1 when a finding of this severity or above exists.
    #[arg(long, value_enum, default_value_t = LintSeverity::Error)]
    pub(crate) error_on: LintSeverity,
    /// Print every rule (code, name, severity, aliases, summary) and exit.
    #[arg(long)]
    pub(crate) list_rules: bool,
    /// The Dockerfiles to check.
    #[arg(default_value = "Dockerfile")]
    pub(crate) paths: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LintFormat {
    /// Code frames with the span underlined, then a summary line.
    Human,
    /// A JSON array of findings.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
    /// Checkstyle XML.
    Checkstyle,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LintSeverity {
    /// Only errors fail.
    Error,
    /// Warnings and errors fail.
    Warning,
    /// Any finding fails.
    Info,
}

#[derive(Clone, Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// Build on the `rbuild serve` at unix:///PATH or tcp://127.0.0.1:PORT: only the files it
    /// does not hold yet are sent.
    #[arg(short = 'H', long = "host", env = "RBUILD_HOST")]
    pub(crate) host: Option<String>,
    /// Name and optionally a tag (`name:tag`); may be given several times.
    #[arg(short = 't', long = "tag")]
    pub(crate) tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile).
    #[arg(short = 'f', long = "file")]
    pub(crate) file: Option<PathBuf>,
    /// A build-time variable, `KEY=VALUE`, or `KEY` to take it from the environment.
    #[arg(long = "build-arg")]
    pub(crate) build_args: Vec<String>,
    /// The stage to build (default: the last).
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// Run every step, ignoring the cache.
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// Pull base images: `--pull` re-resolves every tag, `--pull=never` uses only the store;
    /// by default an image is pulled when the store lacks it.
    #[arg(long, value_name = "WHEN", num_args = 0..=1, require_equals = true, default_missing_value = "always",
          value_parser = ["always", "missing", "never", "true", "false"])]
    pub(crate) pull: Option<String>,
    /// Push every `-t` name to its registry after the build.
    #[arg(long)]
    pub(crate) push: bool,
    /// Progress output: auto, tty, plain, json, github or quiet.
    #[arg(long, default_value = "auto")]
    pub(crate) progress: String,
    /// Show nothing but an error, and print the image id (`--progress=quiet`).
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
    /// Also write the image out: `type=oci|docker|local|tar,dest=PATH`, or
    /// `type=image,name=REF[,push=true]` (`type=registry` pushes).
    #[arg(short = 'o', long = "output")]
    pub(crate) outputs: Vec<String>,
    /// Export the build cache: `type=registry,ref=REF` or `type=local,dest=DIR`,
    /// `[,mode=min|max][,compression=gzip|zstd|uncompressed][,ignore-error=true]`.
    #[arg(long = "cache-to")]
    pub(crate) cache_to: Vec<String>,
    /// Look steps up in a shared cache after the store: `type=registry,ref=REF`,
    /// `type=local,src=DIR` or `REF`; repeatable, tried in order.
    #[arg(long = "cache-from")]
    pub(crate) cache_from: Vec<String>,
    /// Write the cache report (every step: hit or miss, why, time, bytes) as JSON.
    #[arg(long)]
    pub(crate) report: Option<PathBuf>,
    /// Write what was built as buildx's metadata file does (JSON: the image's
    /// `containerimage.digest`, `containerimage.config.digest`, descriptor, names).
    #[arg(long)]
    pub(crate) metadata_file: Option<PathBuf>,
    /// Write the image ID (the config digest) to this file.
    #[arg(long)]
    pub(crate) iidfile: Option<PathBuf>,
    /// Write each RUN step's complete output, byte for byte, to a file of its own here.
    #[arg(long)]
    pub(crate) log_dir: Option<PathBuf>,
    /// When a RUN fails: `shell` opens the stage's SHELL (/bin/sh) in the failed step's
    /// state on this terminal (`shell:CMD` runs CMD there instead), `exit` goes on with the
    /// failure report; `keep` keeps that state in the store for `rbuild debug last`.
    #[arg(long, value_name = "WHAT")]
    pub(crate) on_failure: Option<String>,
    /// When a RUN fails, write its state, command, env (secret names only) and whole log
    /// to FILE, which `rbuild debug FILE` reopens on any machine (and `docker load` loads).
    #[arg(long, value_name = "FILE")]
    pub(crate) failure_bundle: Option<PathBuf>,
    /// Set a label on the image, `KEY=VALUE`.
    #[arg(long = "label")]
    pub(crate) labels: Vec<String>,
    /// A secret for `RUN --mount=type=secret`: `id=ID[,src=FILE|,env=VAR]`; with the
    /// id alone, the variable of that name if set, else the file of that name.
    #[arg(long = "secret")]
    pub(crate) secrets: Vec<String>,
    /// The platform to build for: this machine's only (steps run without
    /// emulation); taken so scripts that name it keep working.
    #[arg(long)]
    pub(crate) platform: Option<String>,
    /// Run the steps of these stages again, the rest from the cache as usual
    /// (`STAGE[,STAGE]`, repeatable).
    #[arg(long = "no-cache-filter")]
    pub(crate) no_cache_filter: Vec<String>,
    /// Add `HOST:IP` to every RUN's /etc/hosts (`HOST=IP` too).
    #[arg(long = "add-host")]
    pub(crate) add_hosts: Vec<String>,
    /// An SSH agent for `RUN --mount=type=ssh`: `default` or `ID` (the agent of
    /// $SSH_AUTH_SOCK), or `ID=SOCKET`; without it no step reaches an agent.
    #[arg(long = "ssh")]
    pub(crate) ssh: Vec<String>,
    /// Network of RUN steps: default (a namespace of its own with outbound access), none
    /// (only lo) or host (the host's; also allows `RUN --network=host`).
    #[arg(long)]
    pub(crate) network: Option<String>,
    /// Let steps go beyond the sandbox when they ask: network.host (`RUN --network=host`)
    /// or security.insecure.
    #[arg(long = "allow")]
    pub(crate) allow: Vec<String>,
    /// The build context directory.
    pub(crate) context: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// A docker-archive (`docker save`), an OCI archive, or an OCI layout
    /// directory; stdin when not given.
    #[arg(short = 'i', long = "input")]
    pub(crate) input: Option<PathBuf>,
    /// Print only the loaded names (there is no other output; as docker's).
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PruneArgs {
    /// Also remove every image and its blobs.
    #[arg(short = 'a', long)]
    pub(crate) all: bool,
    /// Do not ask for confirmation.
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
}
