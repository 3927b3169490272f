//! A hostile layer cannot write outside the snapshot it is applied to.

use std::fs;

use rbuild_image::{LayerError, apply};

use rbuild_test::raw_tar_entry as entry;

#[test]
fn entries_that_would_escape_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    fs::write(&victim, "safe").unwrap();
    let victim_bytes = victim.as_os_str().as_encoded_bytes().to_vec();
    let dir_bytes = outside.path().as_os_str().as_encoded_bytes().to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dot-dot", {
            let mut t = Vec::new();
            entry(&mut t, b"../../victim", tar::EntryType::Regular, b"", b"pwned");
            t
        }),
        ("absolute", {
            let mut t = Vec::new();
            entry(&mut t, &victim_bytes, tar::EntryType::Regular, b"", b"pwned");
            t
        }),
        ("through a symlink", {
            let mut t = Vec::new();
            entry(&mut t, b"link", tar::EntryType::Symlink, &dir_bytes, b"");
            entry(&mut t, b"link/victim", tar::EntryType::Regular, b"", b"pwned");
            t
        }),
        ("whiteout through a symlink", {
            let mut t = Vec::new();
            entry(&mut t, b"link", tar::EntryType::Symlink, &dir_bytes, b"");
            entry(&mut t, b"link/.wh.victim", tar::EntryType::Regular, b"", b"");
            t
        }),
        ("hard link to a host file", {
            let mut t = Vec::new();
            entry(&mut t, b"hl", tar::EntryType::Link, &victim_bytes, b"");
            t
        }),
        ("hard link climbing out", {
            let mut t = Vec::new();
            entry(&mut t, b"hl", tar::EntryType::Link, b"../../../../../../etc/passwd", b"");
            t
        }),
        ("whiteout of the parent", {
            let mut t = Vec::new();
            entry(&mut t, b"a/.wh..", tar::EntryType::Regular, b"", b"");
            t
        }),
    ];
    for (name, mut tar) in cases {
        tar.extend_from_slice(&[0u8; 1024]);
        let dest = tempfile::tempdir().unwrap();
        let result = apply(tar.as_slice(), dest.path());
        assert!(matches!(result, Err(LayerError::Refused { .. })), "{name}: {result:?}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "safe", "{name}");
        let names: Vec<_> =
            fs::read_dir(outside.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["victim"], "{name} wrote outside");
    }
}

#[test]
fn a_plain_layer_applies_with_modes_and_links() {
    let mut t = Vec::new();
    entry(&mut t, b"app/", tar::EntryType::Directory, b"", b"");
    entry(&mut t, b"app/run.sh", tar::EntryType::Regular, b"", b"#!/bin/sh\n");
    entry(&mut t, b"app/again", tar::EntryType::Link, b"app/run.sh", b"");
    entry(&mut t, b"app/sym", tar::EntryType::Symlink, b"run.sh", b"");
    entry(&mut t, b"implied/parent/file", tar::EntryType::Regular, b"", b"x");
    t.extend_from_slice(&[0u8; 1024]);
    let dest = tempfile::tempdir().unwrap();
    let stats = apply(t.as_slice(), dest.path()).unwrap();
    assert_eq!(stats.entries, 5);
    let d = dest.path();
    assert_eq!(fs::read_to_string(d.join("app/again")).unwrap(), "#!/bin/sh\n");
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(fs::metadata(d.join("app/run.sh")).unwrap().nlink(), 2);
    assert_eq!(fs::read_link(d.join("app/sym")).unwrap().to_str(), Some("run.sh"));
    assert_eq!(fs::read_to_string(d.join("implied/parent/file")).unwrap(), "x");
}

#[test]
fn the_root_entry_of_a_tar_made_with_dot_is_skipped() {
    let mut t = Vec::new();
    entry(&mut t, b"./", tar::EntryType::Directory, b"", b"");
    entry(&mut t, b"./bin/", tar::EntryType::Directory, b"", b"");
    entry(&mut t, b"./bin/sh", tar::EntryType::Regular, b"", b"#!");
    t.extend_from_slice(&[0u8; 1024]);
    let dest = tempfile::tempdir().unwrap();
    let stats = apply(t.as_slice(), dest.path()).unwrap();
    assert_eq!(stats.entries, 2);
    assert_eq!(fs::read_to_string(dest.path().join("bin/sh")).unwrap(), "#!");
}
