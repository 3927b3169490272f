/*!
The RUN executor: one step, isolated in Linux namespaces on an overlayfs
snapshot chain, the way Docker runs it.

[`Executor::run`] writes the [`StepSpec`] to the step's state directory and
starts the helper (the rbuild binary's hidden `__run-step`), a fresh
single-threaded process that unshares the mount, PID, UTS and IPC
namespaces (and joins or makes the network one), makes every mount
private, mounts the overlay and forks the init, PID 1 of the new PID
namespace. The init mounts /proc, a tmpfs /dev with its own
null/zero/full/random/urandom/tty nodes, a private devpts and /dev/shm, a
read-only /sys, binds /etc/resolv.conf, /etc/hosts and /etc/hostname
read-only, adds the step's own mounts, pivots into the rootfs, drops to
Docker's default capabilities and the step's user, and execs the command,
which stays PID 1 (as under BuildKit and runc). Mount points the step
needed are removed from the upper directory afterwards.

The sequence of system calls goes through the [`Sys`] trait, so it is
tested without root against [`RecordingSys`].
*/
#![deny(missing_docs)]

mod cachemount;
mod copy;
mod executor;
mod helper;
mod net;
pub mod plan;
mod rootfs;
mod seccomp;
mod spec;
mod sys;
mod terminal;
pub mod user;

pub use cachemount::{CacheLease, CacheMounts, CacheOwner};
pub use copy::{CopyError, CopySpec, CopyStats, copy_into};
pub use executor::{ExecError, Executor, ExitStatus, Secrets};
pub use helper::{DEFAULT_PATH, HELPER_COMMAND, SETUP_FAILED, helper_main};
pub use rootfs::{InLayers, resolve_in_layers, resolve_in_root};
pub use spec::{CopyAction, CopySource, Mount, RootFs, SecretMount, StepSpec};
pub use sys::{RealSys, RecordingSys, Sys};
