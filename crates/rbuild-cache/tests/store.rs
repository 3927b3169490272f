//! The store on a real file system.

use std::fs;
use std::time::Duration;

use rbuild_cache::{CacheRecord, Store};
use rbuild_llb::{KeyBuilder, Kind, explain};

fn record(store: &Store, command: &str, snapshot: Option<String>) -> CacheRecord {
    let mut b = KeyBuilder::new();
    b.add(Kind::Op, "command", command);
    let (key, components) = b.finish();
    let _ = store;
    CacheRecord {
        key,
        components,
        snapshot,
        layer: None,
        instruction: format!("RUN {command}"),
        seconds: 0.5,
        bytes: 10,
        created: rbuild_cache::unix_now(),
    }
}

#[test]
fn snapshots_stack_topmost_first_and_discarded_ones_vanish() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = store.create_snapshot(None).unwrap();
    fs::write(a.upper.join("a"), "a").unwrap();
    let a = store.commit_snapshot(a).unwrap();
    let b = store.create_snapshot(Some(&a)).unwrap();
    let b = store.commit_snapshot(b).unwrap();
    assert_eq!(store.chain(&b).unwrap(), [store.snapshot_dir(&b), store.snapshot_dir(&a)]);
    assert!(store.snapshot_dir(&a).join("a").exists());
    assert!(a.len() <= 12, "ids stay short for overlay options");
    let c = store.create_snapshot(Some(&b)).unwrap();
    let c_dir = c.upper.parent().unwrap().to_owned();
    store.discard_snapshot(c);
    assert!(!c_dir.exists());
}

#[test]
fn records_round_trip_and_bad_ones_count_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snap = store.create_snapshot(None).unwrap();
    let snap = store.commit_snapshot(snap).unwrap();
    let good = record(&store, "make", Some(snap.clone()));
    store.cache_put(&good).unwrap();
    assert_eq!(store.cache_get(&good.key), Some(good.clone()));
    let names: Vec<_> =
        fs::read_dir(dir.path().join("cache")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "no temp file left behind: {names:?}");

    // A truncated record (a crash mid-write elsewhere) is a miss, not an error.
    let broken = record(&store, "make test", None);
    store.cache_put(&broken).unwrap();
    let path = dir.path().join("cache").join(format!("{}.json", broken.key));
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(store.cache_get(&broken.key), None);

    // A record whose snapshot is gone is a miss too.
    fs::remove_dir_all(dir.path().join("snapshots").join(&snap)).unwrap();
    assert_eq!(store.cache_get(&good.key), None);
}

#[test]
fn last_components_explain_the_next_miss() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let step = "/ctx|Dockerfile|stage 0|step 3";
    assert_eq!(store.last_components(step), None);
    let mut b = KeyBuilder::new();
    b.add(Kind::File, "src/file3.txt", "aaa").add(Kind::Var, "VERSION", "1");
    store.set_last_components(step, &b.finish().1).unwrap();
    b.add(Kind::File, "src/file3.txt", "bbb");
    let old = store.last_components(step).unwrap();
    assert_eq!(explain(&old, &b.finish().1).unwrap(), "src/file3.txt changed");
}

#[test]
fn names_point_at_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.tag("registry.example/team/app:1.0", &digest("a")).unwrap();
    store.tag("busybox:local", &digest("b")).unwrap();
    store.tag("busybox:local", &digest("c")).unwrap();
    assert_eq!(store.resolve("busybox:local").as_deref(), Some(digest("c").as_str()));
    assert_eq!(store.resolve("busybox"), None);
    assert_eq!(
        store.images(),
        [
            ("busybox:local".to_owned(), digest("c")),
            ("registry.example/team/app:1.0".to_owned(), digest("a"))
        ]
    );
    assert!(store.untag("busybox:local").unwrap());
    assert!(!store.untag("busybox:local").unwrap());
    assert!(store.tag("", &digest("a")).is_err());
}

#[test]
fn prune_waits_for_builds_and_keeps_images_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snap = store.create_snapshot(None).unwrap();
    let snap = store.commit_snapshot(snap).unwrap();
    store.cache_put(&record(&store, "make", Some(snap))).unwrap();
    store.tag("app:1", &digest("a")).unwrap();
    fs::write(dir.path().join("blobs/sha256/aa"), "blob").unwrap();

    let build = store.lock_shared().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let pruner = {
        let store = store.clone();
        std::thread::spawn(move || {
            let stats = store.prune(false).unwrap();
            tx.send(stats).unwrap();
        })
    };
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "prune must wait for the build");
    drop(build);
    let stats = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    pruner.join().unwrap();
    assert_eq!(stats.entries, 2, "one record and one snapshot");
    assert!(fs::read_dir(dir.path().join("cache")).unwrap().next().is_none());
    assert_eq!(store.resolve("app:1").as_deref(), Some(digest("a").as_str()));
    assert!(dir.path().join("blobs/sha256/aa").exists());

    store.prune(true).unwrap();
    assert_eq!(store.resolve("app:1"), None);
    assert!(!dir.path().join("blobs/sha256/aa").exists());
}

/// A well-formed manifest digest made of one repeated hex digit.
fn digest(hex: &str) -> String {
    format!("sha256:{}", hex.repeat(64))
}
