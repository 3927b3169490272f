//! `rbuild images`, `tag`, `rmi` (and `image ls|tag|rm`): docker's
//! commands, rows and messages, on the store's image records.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use rbuild_engine::BuildError;
use rbuild_image::filters::ImageFilters;
use rbuild_image::images::{Image, ImageStoreError, Removed, find};
use serde_json::{Value, json};

use super::build::open_engine;
use crate::args::{
    BuilderPruneArgs, DfArgs, ExportArgs, HistoryArgs, ImagePruneArgs, ImagesArgs, ImportArgs,
    InspectArgs, RmiArgs, SaveArgs, SystemPruneArgs, TagArgs,
};
use crate::format::{Template, align, go_time, human_duration, human_size};

/// The rows docker shows for one image: a row per tag (and per digest of
/// its repository with `digests`), a `REPO <none>` row for a repository
/// known only by digest, or `<none> <none>`.
fn rows(image: &Image, digests: bool) -> Vec<(String, String, String)> {
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in &image.names {
        let familiar = rbuild_llb::familiar_name(name);
        if let Some((repo, tag)) = familiar.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            tags.entry(repo.to_owned()).or_default().push(tag.to_owned());
        }
    }
    let mut by_digest: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rd in &image.record.repo_digests {
        if let Some((repo, digest)) = rbuild_llb::familiar_name(rd).split_once('@') {
            by_digest.entry(repo.to_owned()).or_default().push(digest.to_owned());
        }
    }
    if tags.is_empty() && by_digest.is_empty() {
        return vec![("<none>".into(), "<none>".into(), "<none>".into())];
    }
    let mut out = Vec::new();
    for (repo, tags) in &tags {
        let ds = by_digest.remove(repo).unwrap_or_default();
        for tag in tags {
            if ds.is_empty() || !digests {
                out.push((
                    repo.clone(),
                    tag.clone(),
                    ds.first().cloned().unwrap_or("<none>".into()),
                ));
            } else {
                for d in &ds {
                    out.push((repo.clone(), tag.clone(), d.clone()));
                }
            }
        }
    }
    for (repo, ds) in by_digest {
        if digests {
            for d in ds {
                out.push((repo.clone(), "<none>".into(), d));
            }
        } else {
            out.push((repo, "<none>".into(), String::new()));
        }
    }
    out
}

fn short_id(id: &str, trunc: bool) -> String {
    if !trunc {
        return id.to_owned();
    }
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

const IMAGE_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const IMAGE_TABLE_DIGESTS: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

fn headers() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("VirtualSize", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("CreatedBy", "CREATED BY"),
        ("Comment", "COMMENT"),
    ])
}

/// Prints `rows` (docker's field objects) with `--format` as given.
pub(crate) fn print_rows(
    format: &str,
    rows: &[Value],
    headers: &BTreeMap<&str, &str>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format == "json" {
        for row in rows {
            writeln!(out, "{}", serde_json::to_string(row)?)?;
        }
        return Ok(());
    }
    let template = Template::parse(format).map_err(anyhow::Error::msg)?;
    let mut lines = Vec::with_capacity(rows.len() + 1);
    if template.table {
        lines.push(template.header(headers));
    }
    for row in rows {
        lines.push(template.render(row).map_err(anyhow::Error::msg)?);
    }
    if template.table {
        write!(out, "{}", align(&lines))?;
    } else {
        for line in lines {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

pub(crate) fn images(args: &ImagesArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine()?;
    let list = engine.images()?;
    // As docker's daemon answers a bad filter: an error, exit code 1.
    let pairs = args.filters.iter().map(|text| {
        text.split_once('=').ok_or_else(|| format!("invalid filter '{text}': expected KEY=VALUE"))
    });
    let mut filters = match pairs
        .collect::<Result<Vec<_>, _>>()
        .and_then(|pairs| ImageFilters::parse(&pairs, &list))
    {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "rbuild: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(reference) = &args.reference {
        filters.references.push(reference.clone());
    }
    let format = match (args.format.as_deref(), args.quiet) {
        (None | Some("table"), true) => "{{.ID}}",
        (None | Some("table"), false) if args.digests => IMAGE_TABLE_DIGESTS,
        (None | Some("table"), false) => IMAGE_TABLE,
        (Some(f), _) => f,
    };
    let digests = args.digests || format.contains("{{.Digest}}");
    let now = rbuild_cache::unix_now() as i64;
    let mut out = Vec::new();
    for image in &list {
        if !filters.shows(image, args.all) {
            continue;
        }
        let untagged = image.names.is_empty() && image.record.repo_digests.is_empty();
        let created = rbuild_image::images::created_secs(&image.record);
        let since = if image.record.created.is_some() {
            format!("{} ago", human_duration(now - created))
        } else {
            "N/A".to_owned()
        };
        let size = human_size(image.record.size);
        for (repository, tag, digest) in rows(image, digests) {
            if !untagged && !filters.reference(&repository, &tag) {
                continue;
            }
            out.push(json!({
                "Containers": "N/A",
                "CreatedAt": go_time(created),
                "CreatedSince": since,
                "Digest": digest,
                "ID": short_id(&image.record.id, !args.no_trunc),
                "Repository": repository,
                "SharedSize": "N/A",
                "Size": size,
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": size,
            }));
        }
    }
    print_rows(format, &out, &headers())?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn tag(args: &TagArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine()?;
    match engine.tag(&args.source, &args.target) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // A name that is not one, a digest, no such image: a failed tag
        // (exit 1, as docker), not a broken store.
        Err(BuildError::Images(
            e @ (ImageStoreError::NoSuchImage(_)
            | ImageStoreError::Reference(_)
            | ImageStoreError::DigestTag(_)),
        )) => {
            let _ = writeln!(std::io::stderr(), "rbuild: {e}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn rmi(args: &RmiArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine()?;
    let (done, errors) = engine.remove_images(&args.images, args.force, args.no_prune)?;
    let mut stdout = std::io::stdout().lock();
    for line in done {
        match line {
            Removed::Untagged(name) => writeln!(stdout, "Untagged: {name}")?,
            Removed::Deleted(id) => writeln!(stdout, "Deleted: {id}")?,
        }
    }
    drop(stdout);
    for e in &errors {
        let _ = writeln!(std::io::stderr(), "rbuild: {e}");
    }
    Ok(if errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub(crate) fn inspect(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine()?;
    let list = engine.images()?;
    let blobs = rbuild_image::Blobs::new(engine.root())?;
    let mut found = Vec::new();
    let mut failed = false;
    for arg in &args.images {
        match find(&list, arg) {
            Ok((image, _, _)) => found.push(rbuild_image::images::inspect(&blobs, image)?),
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "rbuild: {e}");
                failed = true;
            }
        }
    }
    match &args.format {
        Some(format) => print_rows(format, &found, &BTreeMap::new())?,
        None => writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&found)?)?,
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Runs `write` to the file `output` or, without one, to stdout (never a
/// terminal, as docker); a failure is exit 1, as docker's.
fn write_out(
    output: Option<&std::path::Path>,
    write: impl FnOnce(Option<&std::path::Path>, &mut dyn std::io::Write) -> Result<(), BuildError>,
) -> anyhow::Result<ExitCode> {
    let written = match output {
        Some(dest) => write(Some(dest), &mut std::io::sink()),
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
            write(None, &mut out).and_then(|()| {
                out.flush()
                    .map_err(|e| BuildError::Io { what: "cannot write stdout".into(), source: e })
            })
        }
    };
    Ok(written.map_or_else(|e| failed(&e), |()| ExitCode::SUCCESS))
}

/// Prints `error` and gives docker's exit code for any failure, 1 (a name
/// that is not there included).
fn failed(error: &BuildError) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "rbuild: {}", rbuild_engine::error_message(error));
    ExitCode::from(1)
}

pub(crate) fn save(args: &SaveArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format.as_str() {
        "oci" => rbuild_image::ArchiveFormat::Oci,
        _ => rbuild_image::ArchiveFormat::Docker,
    };
    let engine = open_engine()?;
    write_out(args.output.as_deref(), |dest, out| {
        engine.save(&args.images, format, dest, out).map(drop)
    })
}

pub(crate) fn export(args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine()?;
    write_out(args.output.as_deref(), |dest, out| engine.export(&args.image, dest, out).map(drop))
}

pub(crate) fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    use rbuild_engine::ImportSource;
    let engine = open_engine()?;
    let path = std::path::Path::new(&args.source);
    let source = if args.source == "-" {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            bail!("import - reads a tar from stdin, but stdin is a terminal: redirect it");
        }
        ImportSource::Reader(Box::new(stdin.lock()))
    } else if args.source.starts_with("http://") || args.source.starts_with("https://") {
        ImportSource::Url(&args.source)
    } else {
        ImportSource::Path(path)
    };
    let imported =
        engine.import(source, args.reference.as_deref(), &args.changes, args.message.as_deref());
    match imported {
        Ok(done) => {
            writeln!(std::io::stdout(), "{}", done.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(failed(&e)),
    }
}

const HISTORY_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub(crate) fn history(args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine()?;
    let list = engine.images()?;
    let (image, _, _) = match find(&list, &args.image) {
        Ok(found) => found,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "rbuild: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let blobs = rbuild_image::Blobs::new(engine.root())?;
    let manifest = rbuild_image::read_manifest(&blobs, &image.record.manifest.parse()?)?;
    let config = rbuild_image::read_config_blob(&blobs, manifest.config().digest())?;
    let mut sizes = manifest.layers().iter().map(|l| l.size());
    let now = rbuild_cache::unix_now() as i64;
    let mut rows: Vec<Value> = config
        .history
        .iter()
        .map(|h| {
            let size = if h.empty_layer { 0 } else { sizes.next().unwrap_or(0) };
            let created = h.created.as_deref().and_then(rbuild_image::parse_rfc3339);
            let mut by = h.created_by.clone().unwrap_or_default();
            if !args.no_trunc && by.chars().count() > 45 {
                by = by.chars().take(44).collect::<String>() + "…";
            }
            json!({
                "ID": "<missing>",
                "CreatedSince": created.map_or("N/A".to_owned(), |c| format!("{} ago", human_duration(now - c))),
                "CreatedAt": created.map_or(String::new(), |c| rbuild_image::rfc3339(c.max(0) as u64)),
                "CreatedBy": by,
                "Size": human_size(size),
                "Comment": h.comment.clone().unwrap_or_default(),
            })
        })
        .collect();
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top["ID"] = json!(short_id(&image.record.id, !args.no_trunc));
    }
    let format = match (args.format.as_deref(), args.quiet) {
        (None | Some("table"), true) => "{{.ID}}",
        (None | Some("table"), false) => HISTORY_TABLE,
        (Some(f), _) => f,
    };
    let mut names = headers();
    names.insert("ID", "IMAGE");
    print_rows(format, &rows, &names)?;
    Ok(ExitCode::SUCCESS)
}

/// `12.3MB (45%)`, as docker shows what could be reclaimed.
fn reclaimable(part: u64, whole: u64) -> String {
    let percent = (part * 100).checked_div(whole).unwrap_or(0);
    format!("{} ({percent}%)", human_size(part))
}

pub(crate) fn df(args: &DfArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine()?;
    let list = engine.images()?;
    let blobs = rbuild_image::Blobs::new(engine.root())?;
    let usage = rbuild_image::images::disk_usage(engine.store(), &blobs, &list);
    let (mounts, mounts_size) = engine.store().cache_mounts_usage();
    let mut lines = vec!["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_owned()];
    lines.push(format!(
        "Images\t{}\t{}\t{}\t{}",
        list.len(),
        usage.images_active,
        human_size(usage.images_size),
        reclaimable(usage.images_reclaimable, usage.images_size)
    ));
    lines.push(format!(
        "Build Cache\t{}\t0\t{}\t{}",
        usage.cache_records,
        human_size(usage.cache_size),
        human_size(usage.cache_size)
    ));
    lines.push(format!(
        "Cache Mounts\t{mounts}\t0\t{}\t{}",
        human_size(mounts_size),
        human_size(mounts_size)
    ));
    let mut out = std::io::stdout().lock();
    write!(out, "{}", align(&lines))?;
    if args.verbose {
        let mut rows =
            vec!["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE".to_owned()];
        let now = rbuild_cache::unix_now() as i64;
        for (image, one) in list.iter().zip(&usage.images) {
            let created = rbuild_image::images::created_secs(&image.record);
            for (repo, tag, _) in self::rows(image, false) {
                rows.push(format!(
                    "{repo}\t{tag}\t{}\t{} ago\t{}\t{}\t{}",
                    short_id(&image.record.id, true),
                    human_duration(now - created),
                    human_size(image.record.size),
                    human_size(one.shared),
                    human_size(one.unique)
                ));
            }
        }
        write!(out, "\nImages space usage:\n\n{}", align(&rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `until=`: a Go duration before now (`24h`, `1h30m`, `90s`), a Unix
/// time, or an RFC 3339 time; `now` is the Unix time it counts back from.
fn until(value: &str, now: i64) -> anyhow::Result<i64> {
    if let Ok(secs) = value.parse::<i64>() {
        return Ok(secs);
    }
    if let Some(t) = rbuild_image::parse_rfc3339(value) {
        return Ok(t);
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let n: f64 = number.parse().with_context(|| format!("until={value}: not a duration"))?;
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => bail!("until={value}: expected a duration such as 24h or 10m, or a time"),
        };
        number.clear();
    }
    if !number.is_empty() || total == 0.0 {
        bail!("until={value}: expected a duration such as 24h or 10m, or a time");
    }
    Ok(now - total as i64)
}

/// A size as docker's `--keep-storage` reads it.
fn parse_size(text: &str) -> anyhow::Result<u64> {
    rbuild_llb::parse_size(text).map_err(anyhow::Error::msg)
}

/// Asks on the terminal (docker's wording); `false` when not confirmed.
fn confirm(what: &str) -> bool {
    let _ = write!(
        std::io::stderr(),
        "WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] "
    );
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

pub(crate) fn builder_prune(args: &BuilderPruneArgs) -> anyhow::Result<ExitCode> {
    let keep = args.keep_storage.as_deref().map(parse_size).transpose()?;
    let mut older_than = None;
    for text in &args.filters {
        match text.split_once('=') {
            Some(("until", v)) => {
                older_than = Some(until(v, rbuild_cache::unix_now() as i64)?.max(0) as u64);
            }
            _ => bail!("invalid filter '{text}': expected until=…"),
        }
    }
    if !args.force && !confirm("all build cache") {
        return Ok(ExitCode::SUCCESS);
    }
    let engine = open_engine()?;
    let stats = if keep.is_none() && older_than.is_none() {
        engine.prune(false)?
    } else {
        engine.prune_cache(keep, older_than)?
    };
    writeln!(std::io::stdout(), "Total:\t{}", human_size(stats.bytes))?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn system_prune(args: &SystemPruneArgs) -> anyhow::Result<ExitCode> {
    let images = if args.all {
        "all images without a running build using them"
    } else {
        "all dangling images"
    };
    if !args.force && !confirm(&format!("{images}\n  - all build cache")) {
        return Ok(ExitCode::SUCCESS);
    }
    let engine = open_engine()?;
    let blobs = rbuild_image::Blobs::new(engine.root())?;
    let (done, gc) = rbuild_image::images::prune(engine.store(), &blobs, args.all, None, &[])?;
    let cache = engine.prune(false)?;
    let mut out = std::io::stdout().lock();
    if !done.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for line in &done {
            match line {
                Removed::Untagged(name) => writeln!(out, "untagged: {name}")?,
                Removed::Deleted(id) => writeln!(out, "deleted: {id}")?,
            }
        }
        writeln!(out)?;
    }
    let freed = gc.map_or(0, |g| g.bytes) + cache.bytes;
    writeln!(out, "Total reclaimed space: {}", human_size(freed))?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn prune(args: &ImagePruneArgs) -> anyhow::Result<ExitCode> {
    let mut older_than = None;
    let mut labels = Vec::new();
    for text in &args.filters {
        match text.split_once('=') {
            Some(("until", v)) => {
                older_than = Some(until(v, rbuild_cache::unix_now() as i64)?);
            }
            Some(("label", v)) => labels.push(match v.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (v.to_owned(), None),
            }),
            _ => bail!("invalid filter '{text}': expected until=… or label=…"),
        }
    }
    let what = if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    if !args.force && !confirm(what) {
        return Ok(ExitCode::SUCCESS);
    }
    let engine = open_engine()?;
    let blobs = rbuild_image::Blobs::new(engine.root())?;
    let (done, gc) =
        rbuild_image::images::prune(engine.store(), &blobs, args.all, older_than, &labels)?;
    let mut out = std::io::stdout().lock();
    if !done.is_empty() {
        writeln!(out, "Deleted Images:")?;
        for line in &done {
            match line {
                Removed::Untagged(name) => writeln!(out, "untagged: {name}")?,
                Removed::Deleted(id) => writeln!(out, "deleted: {id}")?,
            }
        }
        writeln!(out)?;
    }
    writeln!(out, "Total reclaimed space: {}", human_size(gc.map_or(0, |g| g.bytes)))?;
    Ok(ExitCode::SUCCESS)
}

/// `rbuild store check [--repair]`: a line per problem, then a summary;
/// exit 1 while a problem is left.
pub(crate) fn store_check(args: &crate::args::StoreCheckArgs) -> anyhow::Result<ExitCode> {
    let engine = super::build::open_engine()?;
    let report = match engine.check_store(args.repair) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    let mut stdout = std::io::stdout().lock();
    for problem in &report.problems {
        writeln!(stdout, "{problem}")?;
    }
    let left = report.problems.len() - report.repaired;
    match (report.problems.len(), args.repair) {
        (0, _) => writeln!(stdout, "the store is sound")?,
        (n, true) => writeln!(stdout, "{n} problem(s), {} repaired", report.repaired)?,
        (n, false) => {
            writeln!(stdout, "{n} problem(s); `rbuild store check --repair` removes them")?
        }
    }
    Ok(if left == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_go_durations_and_times() {
        let now = 2_000_000_000;
        let ago = |v: &str| now - until(v, now).unwrap();
        assert_eq!(ago("24h"), 86400);
        assert_eq!(ago("1h30m"), 5400);
        assert_eq!(ago("90s"), 90);
        assert_eq!(ago("1.5h"), 5400);
        assert_eq!(until("1700000000", now).unwrap(), 1_700_000_000);
        assert_eq!(until("2023-11-14T22:13:20Z", now).unwrap(), 1_700_000_000);
        assert!(until("soon", now).is_err() && until("5x", now).is_err());
    }

    #[test]
    fn sizes_in_binary_units_as_docker_reads_keep_storage() {
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("ten").is_err() && parse_size("5 parsecs").is_err());
    }
}
