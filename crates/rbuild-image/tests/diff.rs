//! Layer diffs of hand-made upper directories: xattrs, overlayfs'
//! bookkeeping left out, whiteouts and opaque directories.

use std::fs;

use rbuild_image::{DiffOptions, diff};

/// Each entry's path and its PAX records.
type Entries = Vec<(String, Vec<(String, Vec<u8>)>)>;

fn entries(layer: &[u8]) -> Entries {
    let mut archive = tar::Archive::new(layer);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let pax = e
                .pax_extensions()
                .unwrap()
                .map(|records| {
                    records
                        .map(|r| {
                            let r = r.unwrap();
                            (r.key().unwrap().to_owned(), r.value_bytes().to_vec())
                        })
                        .collect()
                })
                .unwrap_or_default();
            (path, pax)
        })
        .collect()
}

#[test]
fn xattrs_are_kept_but_overlay_bookkeeping_is_not() {
    if !nix::unistd::geteuid().is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI runs this as root");
        return; // trusted.* xattrs and device nodes need root
    }
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path();
    fs::write(upper.join("tool"), "bin").unwrap();
    xattr::set(upper.join("tool"), "user.origin", b"rbuild").unwrap();
    xattr::set(upper.join("tool"), "trusted.overlay.origin", b"\x00fh").unwrap();
    fs::create_dir(upper.join("etc")).unwrap();
    xattr::set(upper.join("etc"), "trusted.overlay.opaque", b"y").unwrap();
    fs::write(upper.join("etc/only"), "x").unwrap();
    nix::sys::stat::mknod(
        &upper.join("gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::empty(),
        nix::sys::stat::makedev(0, 0),
    )
    .unwrap();
    let mut layer = Vec::new();
    let stats = diff(upper, &mut layer, &DiffOptions::default()).unwrap();
    assert_eq!(stats.whiteouts, 2);
    let got = entries(&layer);
    let names: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, ["etc/", "etc/.wh..wh..opq", "etc/only", ".wh.gone", "tool"]);
    let tool = &got.iter().find(|(p, _)| p == "tool").unwrap().1;
    assert_eq!(tool, &[("SCHILY.xattr.user.origin".to_owned(), b"rbuild".to_vec())]);
    let etc = &got.iter().find(|(p, _)| p == "etc/").unwrap().1;
    assert!(etc.is_empty(), "overlay's own xattrs stay out: {etc:?}");
}
