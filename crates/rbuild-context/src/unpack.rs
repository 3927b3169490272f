//! Guards for unpacking untrusted tars (context streams, image layers,
//! image archives): entry names that stay relative, and parents that are
//! real directories, never symlinks.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};

/// A tar entry name as a relative path of normal components only (`.`
/// dropped, so the root entry `./` becomes empty), or `None` when it is
/// absolute or climbs with `..`.
pub fn relative_entry_path(name: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Why an entry's parents cannot take it.
#[derive(Debug)]
pub enum ParentError {
    /// A parent is a symlink: writing through it could leave the destination.
    Symlink,
    /// A parent is a file, device or the like.
    NotDir,
    /// Reading or creating a parent failed.
    Io(io::Error),
}

/// Makes sure every parent of `rel` below `dest` is a real directory,
/// creating missing ones with mode 0755 (as Docker does for implied
/// parents), and that none is a symlink.
pub fn prepare_parents(dest: &Path, rel: &Path) -> Result<(), ParentError> {
    let mut at = dest.to_path_buf();
    let Some(parent) = rel.parent() else { return Ok(()) };
    for part in parent.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(ParentError::Symlink),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(ParentError::NotDir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&at).map_err(ParentError::Io)?;
                fs::set_permissions(&at, fs::Permissions::from_mode(0o755))
                    .map_err(ParentError::Io)?;
            }
            Err(e) => return Err(ParentError::Io(e)),
        }
    }
    Ok(())
}

/// The compression a stream starts with, told by its first bytes (as
/// BuildKit and containerd tell it, never by a file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compressed {
    /// No known magic: the bytes as they are.
    Plain,
    /// gzip (`1f 8b`), members concatenated allowed.
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
    /// bzip2 (`BZh`).
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
}

/// A reader of `reader`'s content with its compression undone, and which
/// compression that was: the one decompressor for layers, archives that
/// `docker save` wrote and archives that ADD unpacks.
pub fn decompress<'a, R: std::io::BufRead + 'a>(
    mut reader: R,
) -> std::io::Result<(Compressed, Box<dyn std::io::Read + 'a>)> {
    let head = reader.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        (Compressed::Gzip, Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        (Compressed::Zstd, Box::new(zstd::Decoder::with_buffer(reader)?))
    } else if head.starts_with(b"BZh") {
        (Compressed::Bzip2, Box::new(bzip2::bufread::MultiBzDecoder::new(reader)))
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        (Compressed::Xz, Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(reader)))
    } else {
        (Compressed::Plain, Box::new(reader))
    })
}
