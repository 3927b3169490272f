/*!
Image plumbing for rbuild: the layers a build produces and consumes.

* [`diff`] turns the upper directory of a finished RUN step into an OCI
  layer tar (whiteouts for deletions, opaque-directory markers, hard links,
  xattrs, deterministic order, `SOURCE_DATE_EPOCH` clamping).
* [`apply`] unpacks an OCI layer into a snapshot directory that overlayfs
  can stack, turning whiteouts back into overlayfs' own, and refuses any
  entry that would land outside it.
*/
#![deny(missing_docs)]

mod apply;
mod layer;

pub use apply::{ApplyStats, apply};
pub use layer::{
    DiffOptions, LayerError, LayerStats, OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX,
    diff,
};
