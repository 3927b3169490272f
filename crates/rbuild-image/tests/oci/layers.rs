//! Layer blobs: one pass gives the blob digest and the diff_id, and equal
//! tars give equal blobs.

use std::fs;
use std::io::Read as _;

use rbuild_image::oci_spec::image::MediaType;
use rbuild_image::{Compression, DiffOptions, compress_layer, diff, layer_from_dir, sha256_digest};

use crate::{sample_tree, store};

fn sample_tar() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let tree = sample_tree(dir.path());
    let mut tar = Vec::new();
    diff(&tree, &mut tar, &DiffOptions { source_date_epoch: Some(0) }).unwrap();
    tar
}

#[test]
fn gzip_layer_has_both_digests_and_decompresses_to_the_tar() {
    let (_dir, blobs) = store();
    let tar = sample_tar();
    let layer = compress_layer(&blobs, tar.as_slice(), Compression::Gzip).unwrap();
    assert_eq!(layer.diff_id, sha256_digest(&tar));
    assert_eq!(*layer.descriptor.media_type(), MediaType::ImageLayerGzip);
    let stored = fs::read(blobs.path(layer.descriptor.digest()).unwrap()).unwrap();
    assert_eq!(*layer.descriptor.digest(), sha256_digest(&stored));
    assert_eq!(layer.descriptor.size(), stored.len() as u64);
    // Deterministic header: no name flag, mtime 0, OS "unknown".
    assert_eq!(&stored[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&stored[4..8], &[0, 0, 0, 0]);
    assert_eq!(stored[9], 255);
    let mut back = Vec::new();
    flate2::read::GzDecoder::new(stored.as_slice()).read_to_end(&mut back).unwrap();
    assert_eq!(back, tar);
    let again = compress_layer(&blobs, tar.as_slice(), Compression::Gzip).unwrap();
    assert_eq!(again, layer);
}

#[test]
fn zstd_and_plain_layers_keep_the_same_diff_id() {
    let (_dir, blobs) = store();
    let tar = sample_tar();
    let zstd = compress_layer(&blobs, tar.as_slice(), Compression::Zstd).unwrap();
    let plain = compress_layer(&blobs, tar.as_slice(), Compression::None).unwrap();
    assert_eq!(zstd.diff_id, sha256_digest(&tar));
    assert_eq!(plain.diff_id, zstd.diff_id);
    assert_eq!(
        zstd.descriptor.media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(*plain.descriptor.digest(), plain.diff_id);
    let stored = fs::read(blobs.path(zstd.descriptor.digest()).unwrap()).unwrap();
    assert_eq!(zstd::decode_all(stored.as_slice()).unwrap(), tar);
}

#[test]
fn a_directory_becomes_a_layer_in_one_call() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let options = DiffOptions { source_date_epoch: Some(0) };
    let (layer, stats) = layer_from_dir(&blobs, &tree, &options, Compression::Gzip).unwrap();
    assert_eq!(stats.entries, 5);
    assert_eq!(layer.diff_id, sha256_digest(&sample_tar()));
}

#[test]
fn how_the_tar_is_cut_into_writes_does_not_change_the_blob() {
    use std::io::Write as _;
    let (_dir, blobs) = store();
    let mut tar = sample_tar();
    // Big enough to span several of the encoder's input chunks.
    tar.extend((0..600_000u32).map(|i| (i % 251) as u8));
    for compression in [Compression::Gzip, Compression::Zstd] {
        let whole = compress_layer(&blobs, tar.as_slice(), compression).unwrap();
        let mut writer = rbuild_image::LayerWriter::new(&blobs, compression).unwrap();
        for (i, piece) in tar.chunks(977).enumerate() {
            writer.write_all(piece).unwrap();
            if i % 7 == 0 {
                writer.flush().unwrap();
            }
        }
        assert_eq!(writer.finish().unwrap(), whole, "{compression:?}");
    }
}
