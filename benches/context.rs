//! Context scan and hash over a generated context of 20,000 files, half of
//! them excluded by a `.dockerignore` with `**` and `!` patterns (the shape
//! of ../shared/bench/big-context without its 64 MiB files): cold (empty
//! stat cache, every selected file read) and warm (stat cache loaded from
//! disk, nothing read). The page cache is warm in both: "cold" measures
//! rbuild's work, not the disk.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use divan::counter::ItemsCount;
use rbuild_context::{StatCache, hash, list, load_ignore};

fn main() {
    divan::main();
}

const DOCKERIGNORE: &str = "**/*.log\n**/tmp\ndocs/**/*.md\n!docs/**/README.md\nnode_modules\n";

/// The generated context (made once per run) and its stat-cache file.
fn context() -> &'static (tempfile::TempDir, PathBuf) {
    static CONTEXT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("ctx");
        let mut n = 0u32;
        let mut put = |rel: String| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let line = format!("line {n} of a generated file for the context bench\n");
            std::fs::write(path, line.repeat(8 + (n as usize * 37) % 60)).expect("write");
            n += 1;
        };
        for m in 0..25 {
            for f in 0..400 {
                put(format!("src/m{m:02}/f{f:04}.txt")); // kept: 10,000
            }
            for l in 0..80 {
                put(format!("src/m{m:02}/l{l:02}.log")); // dropped: 2,000
            }
        }
        for d in 0..10 {
            for p in 0..300 {
                put(format!("docs/d{d:02}/p{p:03}.md")); // dropped: 3,000
            }
        }
        for p in 0..40 {
            for f in 0..100 {
                put(format!("node_modules/p{p:02}/f{f:03}.js")); // dropped: 4,000
            }
        }
        for t in 0..1000 {
            put(format!("build/tmp/t{t:04}.o")); // dropped: 1,000
        }
        std::fs::write(root.join(".dockerignore"), DOCKERIGNORE).expect("ignore");
        // Let the stat cache trust the files (see `hash`'s racy check).
        std::thread::sleep(std::time::Duration::from_millis(250));
        let cache = dir.path().join("stat-cache.json");
        let ignore = load_ignore(&root, None).expect("ignore file");
        let listing = list(&root, &ignore).expect("list");
        assert_eq!(listing.entries.len(), 10_001, "10,000 kept files and the ignore file");
        let mut stat = StatCache::new();
        hash(&root, &listing, &mut stat).expect("hash");
        stat.save(&cache).expect("save");
        (dir, cache)
    })
}

fn root() -> PathBuf {
    context().0.path().join("ctx")
}

#[divan::bench(sample_count = 10)]
fn scan_only(bencher: divan::Bencher<'_, '_>) {
    let root = root();
    bencher.counter(ItemsCount::new(20_001usize)).bench(|| {
        let ignore = load_ignore(&root, None).expect("ignore file");
        list(&root, &ignore).expect("list")
    });
}

#[divan::bench(sample_count = 10)]
fn cold_scan_and_hash(bencher: divan::Bencher<'_, '_>) {
    let root = root();
    bencher.counter(ItemsCount::new(20_001usize)).bench(|| {
        let ignore = load_ignore(&root, None).expect("ignore file");
        let listing = list(&root, &ignore).expect("list");
        let hashes = hash(&root, &listing, &mut StatCache::new()).expect("hash");
        assert_eq!(hashes.stats.files_read, 10_001);
        hashes
    });
}

#[divan::bench(sample_count = 10)]
fn warm_scan_and_hash(bencher: divan::Bencher<'_, '_>) {
    let root = root();
    let cache: &Path = &context().1;
    bencher.counter(ItemsCount::new(20_001usize)).bench(|| {
        let mut stat = StatCache::load(cache);
        let ignore = load_ignore(&root, None).expect("ignore file");
        let listing = list(&root, &ignore).expect("list");
        let hashes = hash(&root, &listing, &mut stat).expect("hash");
        assert_eq!(hashes.stats.files_read, 0, "a warm pass reads nothing");
        hashes
    });
}
