//! Storing a layer: a 32 MiB uncompressed layer tar (text files and some
//! incompressible bytes, like a build's output) compressed into the store
//! with its blob digest and diff_id, per compression; and the same tree
//! diffed straight from its directory into a gzip blob.

use std::path::PathBuf;
use std::sync::OnceLock;

use divan::counter::BytesCount;
use rbuild_image::{Blobs, Compression, DiffOptions, compress_layer, diff, layer_from_dir};

fn main() {
    divan::main();
}

struct Fixture {
    _dir: tempfile::TempDir,
    tree: PathBuf,
    tar: Vec<u8>,
    blobs: Blobs,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let tree = dir.path().join("tree");
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for d in 0..16 {
            let sub = tree.join(format!("usr/lib/m{d:02}"));
            std::fs::create_dir_all(&sub).expect("mkdir");
            for f in 0..64 {
                let text = format!("line {f} of module {d}: some source text\n").repeat(600);
                std::fs::write(sub.join(format!("f{f:03}.txt")), text).expect("write");
            }
            // Incompressible: xorshift bytes.
            let noise: Vec<u8> = (0..512 * 1024)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            std::fs::write(sub.join("blob.bin"), noise).expect("write");
        }
        let mut tar = Vec::new();
        diff(&tree, &mut tar, &DiffOptions::default()).expect("diff");
        let blobs = Blobs::new(dir.path().join("store")).expect("store");
        Fixture { _dir: dir, tree, tar, blobs }
    })
}

#[divan::bench(args = [Compression::Gzip, Compression::Zstd, Compression::None], sample_count = 5)]
fn compress(bencher: divan::Bencher, compression: Compression) {
    let f = fixture();
    bencher
        .counter(BytesCount::new(f.tar.len()))
        .bench(|| compress_layer(&f.blobs, f.tar.as_slice(), compression).expect("compress"));
}

#[divan::bench(sample_count = 5)]
fn from_dir_gzip(bencher: divan::Bencher) {
    let f = fixture();
    bencher.counter(BytesCount::new(f.tar.len())).bench(|| {
        layer_from_dir(&f.blobs, &f.tree, &DiffOptions::default(), Compression::Gzip)
            .expect("layer")
    });
}
