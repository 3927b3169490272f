/*!
rbuild's on-disk store: snapshots stacked as overlay lower dirs, cache-key
records that remember what their key was made of (so a miss can say which
file, which ARG or which parent changed), image names and image records, and the lock that
lets builds run side by side while keeping prune away from them.
*/
#![deny(missing_docs)]

mod store;

pub use store::{
    CacheRecord, ImageRecord, InUse, LayerRef, NewSnapshot, PruneStats, SnapshotId, Store,
    StoreError, StoreLock, clean_stale_temps, disk_usage, temp_prefix, unix_now, write_atomic,
};
