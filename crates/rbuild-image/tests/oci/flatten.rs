//! `flatten`: layers merged into one tar as the stacked root file system
//! shows them, decided from hand-made layer tars (no root needed).

use std::io::Read as _;

use rbuild_image::{Compression, Layer, compress_layer, flatten};

use crate::store;

/// An entry of a hand-made layer.
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    /// A file owned by 1000:1000 with a user xattr.
    Owned(&'a str, &'a str),
    Link(&'a str, &'a str),
    Symlink(&'a str, &'a str),
}

fn layer(blobs: &rbuild_image::Blobs, entries: &[E]) -> Layer {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1);
        h.set_mode(0o644);
        h.set_size(0);
        match e {
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                builder.append_data(&mut h, p, std::io::empty()).unwrap();
            }
            E::File(p, body) => {
                h.set_size(body.len() as u64);
                builder.append_data(&mut h, p, body.as_bytes()).unwrap();
            }
            E::Owned(p, body) => {
                builder.append_pax_extensions([("SCHILY.xattr.user.k", b"v".as_slice())]).unwrap();
                h.set_uid(1000);
                h.set_gid(1000);
                h.set_size(body.len() as u64);
                builder.append_data(&mut h, p, body.as_bytes()).unwrap();
            }
            E::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                builder.append_link(&mut h, p, target).unwrap();
            }
            E::Symlink(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                builder.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    compress_layer(blobs, builder.into_inner().unwrap().as_slice(), Compression::Gzip).unwrap()
}

/// `(path, what)` per entry of the flattened tar, in order: `dir`, the
/// file's body, `-> target` (symlink) or `=> target` (hard link).
fn entries(tar: &[u8]) -> Vec<(String, String)> {
    let mut archive = tar::Archive::new(tar);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let link = entry.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        let what = match entry.header().entry_type() {
            tar::EntryType::Directory => "dir".to_owned(),
            tar::EntryType::Symlink => format!("-> {}", link.unwrap()),
            tar::EntryType::Link => format!("=> {}", link.unwrap()),
            _ => {
                let mut body = String::new();
                entry.read_to_string(&mut body).unwrap();
                body
            }
        };
        out.push((path, what));
    }
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

#[test]
fn whiteouts_opaque_dirs_and_replaced_parents_hide_what_is_below() {
    let (dir, blobs) = store();
    let base = layer(
        &blobs,
        &[
            E::Dir("etc/"),
            E::File("etc/keep", "base"),
            E::File("etc/gone", "base"),
            E::File("etc/changed", "old"),
            E::Dir("var/"),
            E::Dir("var/cache/"),
            E::File("var/cache/a", "a"),
            E::Dir("opt/"),
            E::File("opt/old", "old"),
            E::Dir("srv/"),
            E::File("srv/x", "x"),
            E::File("data", "big"),
            E::Link("data-link", "data"),
        ],
    );
    let top = layer(
        &blobs,
        &[
            E::File("etc/.wh.gone", ""),
            E::File("etc/changed", "new"),
            E::File(".wh.var", ""),
            E::Dir("opt/"),
            E::File("opt/.wh..wh..opq", ""),
            E::File("opt/new", "new"),
            // A directory replaced by a symlink: nothing below it stays.
            E::Symlink("srv", "/etc"),
            E::Owned("owned", "mine"),
        ],
    );
    let out = flatten(&blobs, &[base, top], Vec::new(), &dir.path().join("out")).unwrap();
    assert_eq!(
        entries(&out),
        pairs(&[
            ("etc/", "dir"),
            ("etc/keep", "base"),
            ("data", "big"),
            ("data-link", "=> data"),
            ("etc/changed", "new"),
            ("opt/", "dir"),
            ("opt/new", "new"),
            ("srv", "-> /etc"),
            ("owned", "mine"),
        ])
    );
    // Owner and xattr as the layer had them.
    let mut archive = tar::Archive::new(out.as_slice());
    let mut owned = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_str() == Some("owned"))
        .unwrap();
    assert_eq!((owned.header().uid().unwrap(), owned.header().gid().unwrap()), (1000, 1000));
    let pax: Vec<(String, Vec<u8>)> = owned
        .pax_extensions()
        .unwrap()
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.key().unwrap().to_owned(), r.value_bytes().to_vec())
        })
        .collect();
    assert!(pax.contains(&("SCHILY.xattr.user.k".to_owned(), b"v".to_vec())), "{pax:?}");
}

#[test]
fn a_hard_link_whose_target_a_higher_layer_replaced_keeps_the_old_content() {
    let (dir, blobs) = store();
    let base = layer(
        &blobs,
        &[E::File("a", "old"), E::Link("b", "a"), E::Link("c", "a"), E::File("d", "d")],
    );
    let top = layer(&blobs, &[E::File("a", "new"), E::File(".wh.d", "")]);
    let out = flatten(&blobs, &[base, top], Vec::new(), &dir.path().join("out")).unwrap();
    // b takes a's old data; c stays linked with it; a is the new file.
    assert_eq!(entries(&out), pairs(&[("b", "old"), ("c", "=> b"), ("a", "new")]));
}

#[test]
fn an_entry_outside_the_layer_is_refused() {
    let (dir, blobs) = store();
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    // The tar crate refuses `..` in set_path; write the name bytes directly.
    h.as_old_mut().name[..7].copy_from_slice(b"../evil");
    h.set_cksum();
    builder.append(&h, b"x".as_slice()).unwrap();
    let bad = compress_layer(&blobs, builder.into_inner().unwrap().as_slice(), Compression::None)
        .unwrap();
    let err = flatten(&blobs, &[bad], Vec::new(), &dir.path().join("out")).unwrap_err();
    assert!(err.to_string().contains("\"../evil\" is outside the layer"), "{err}");
}
