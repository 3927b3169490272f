//! Hashing what a build reads: the stat cache, symlinks, and sources that
//! try to leave the context.

use std::fs;
use std::path::Path;
use std::time::Duration;

use rbuild_context::{
    Digest, EntryKind, IgnoreFile, Selection, StatCache, hash, list, load_ignore, scan,
};

/// Files written just now are "racy" for the stat cache (a write in the
/// same clock tick could keep their timestamps); wait that window out.
fn settle() {
    std::thread::sleep(Duration::from_millis(250));
}

fn write(root: &Path, rel: &str, body: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
}

fn digest_of<'a>(hashes: &'a rbuild_context::ContextHashes, path: &str) -> &'a Digest {
    &hashes.entries.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("{path}")).digest
}

#[test]
fn a_warm_pass_reads_no_file_and_a_change_reads_only_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..200 {
        write(root, &format!("src/m{}/f{i:03}.txt", i % 7), &format!("file {i}\n"));
        write(root, &format!("logs/l{i:03}.log"), "dropped");
    }
    write(root, ".dockerignore", "logs\n");
    settle();
    let ignore = load_ignore(root, None).unwrap();
    let listing = list(root, &ignore).unwrap();
    assert_eq!(listing.entries.len(), 201, "200 sources and the ignore file");

    let state = tempfile::tempdir().unwrap();
    let cache_file = state.path().join("stat-cache.json");
    let mut cache = StatCache::load(&cache_file);
    assert!(cache.is_empty());
    let cold = hash(root, &listing, &mut cache).unwrap();
    assert_eq!(cold.stats.files_read, 201);
    assert_eq!(cold.stats.from_cache, 0);
    assert_eq!(cold.stats.bytes_read, listing.entries.iter().map(|e| e.size).sum::<u64>());
    cache.save(&cache_file).unwrap();

    let mut cache = StatCache::load(&cache_file);
    assert_eq!(cache.len(), 201);
    let warm = hash(root, &list(root, &ignore).unwrap(), &mut cache).unwrap();
    assert_eq!(warm.stats.files_read, 0, "a warm pass must read no file");
    assert_eq!(warm.stats.bytes_read, 0);
    assert_eq!(warm.stats.from_cache, 201);
    assert_eq!(warm.entries, cold.entries);

    // One edit: only that file is read, only its digest moves.
    fs::write(root.join("src/m3/f010.txt"), "file 10, edited\n").unwrap();
    settle();
    let edited = hash(root, &list(root, &ignore).unwrap(), &mut cache).unwrap();
    assert_eq!((edited.stats.files_read, edited.stats.from_cache), (1, 200));
    assert_eq!(*digest_of(&edited, "src/m3/f010.txt"), Digest::of(b"file 10, edited\n"));
    let moved: Vec<_> = cold
        .entries
        .iter()
        .zip(&edited.entries)
        .filter(|(a, b)| a.digest != b.digest)
        .map(|(a, _)| a.path.as_str())
        .collect();
    assert_eq!(moved, ["src/m3/f010.txt"]);

    // Same bytes and size, new mode: re-read (ctime moved), same digest.
    let path = root.join("src/m0/f000.txt");
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    settle();
    let chmodded = hash(root, &list(root, &ignore).unwrap(), &mut cache).unwrap();
    assert_eq!(chmodded.stats.files_read, 1);
    let entry = chmodded.entries.iter().find(|e| e.path == "src/m0/f000.txt").unwrap();
    assert_eq!(entry.meta.mode & 0o777, 0o600);
    assert_eq!(entry.digest, Digest::of(b"file 0\n"));
}

#[test]
fn a_file_changed_just_now_is_not_trusted_to_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "fresh.txt", "one");
    let mut cache = StatCache::new();
    let first = hash(root, &list(root, &IgnoreFile::default()).unwrap(), &mut cache).unwrap();
    assert_eq!(first.stats.files_read, 1);
    assert!(cache.is_empty(), "a file written within the racy window is not remembered");
    settle();
    let second = hash(root, &list(root, &IgnoreFile::default()).unwrap(), &mut cache).unwrap();
    assert_eq!(second.stats.files_read, 1);
    assert_eq!(cache.len(), 1);
}

#[test]
fn a_corrupt_stat_cache_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cache.json");
    fs::write(&file, "{not json").unwrap();
    assert!(StatCache::load(&file).is_empty());
    fs::write(&file, r#"{"version":999,"entries":{}}"#).unwrap();
    assert!(StatCache::load(&file).is_empty());
}

#[test]
fn symlinks_are_hashed_as_links_and_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "outside secret").unwrap();
    let root = dir.path();
    write(root, "a.txt", "a");
    let target = outside.path().join("secret");
    std::os::unix::fs::symlink(&target, root.join("escape")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("escape-dir")).unwrap();
    let listing = list(root, &IgnoreFile::default()).unwrap();
    let hashes = hash(root, &listing, &mut StatCache::new()).unwrap();
    assert_eq!(hashes.stats.files_read, 1, "only a.txt is read");
    let link = hashes.entries.iter().find(|e| e.path == "escape").unwrap();
    assert_eq!(link.kind, EntryKind::Symlink);
    assert_eq!(link.digest, Digest::of(target.as_os_str().as_encoded_bytes()));
    assert_ne!(link.digest, Digest::of(b"outside secret"));
    assert!(hashes.entries.iter().all(|e| !e.path.starts_with("escape-dir/")));
}

#[test]
fn dot_dot_in_a_source_cannot_reach_outside_the_context() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ctx");
    write(dir.path(), "secret.txt", "outside");
    write(&root, "app/main.sh", "echo hi");
    let selection = Selection::new(&["../secret.txt", "app/../../../secret.txt"]).unwrap();
    let listing = scan(&root, &IgnoreFile::default(), &selection).unwrap();
    assert!(listing.entries.is_empty(), "{listing:?}");

    // The same source names the context's own file when there is one.
    write(&root, "secret.txt", "inside");
    let listing = scan(&root, &IgnoreFile::default(), &selection).unwrap();
    let hashes = hash(&root, &listing, &mut StatCache::new()).unwrap();
    assert_eq!(hashes.entries.len(), 1);
    assert_eq!(hashes.entries[0].path, "secret.txt");
    assert_eq!(hashes.entries[0].digest, Digest::of(b"inside"));
}

#[test]
fn a_selection_lists_only_what_sources_name() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for rel in ["src/a.rs", "src/deep/b.rs", "conf/app.toml", "conf/app.yaml", "README.md"] {
        write(root, rel, rel);
    }
    fs::create_dir_all(root.join("src/empty")).unwrap();
    let ignore = IgnoreFile::parse("src/deep\n").unwrap();
    let selection = Selection::new(&["src", "conf/*.toml"]).unwrap();
    let listing = scan(root, &ignore, &selection).unwrap();
    let files: Vec<_> = listing.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(files, ["conf/app.toml", "src/a.rs"]);
    let dirs: Vec<_> = listing.dirs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(dirs, ["src", "src/empty"]);
}
