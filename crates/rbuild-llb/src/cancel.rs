//! One cancellation token for a whole build: the solver fires it on the
//! first failure or when the user interrupts, and whatever runs (a RUN's
//! helper process, a download) hooks itself to it instead of polling.

use std::sync::{Arc, Mutex};

type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    cancelled: bool,
    next: u64,
    hooks: Vec<(u64, Hook)>,
}

/// A token that fires once; clones share it.
#[derive(Clone, Default)]
pub struct Cancel {
    inner: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel").field("cancelled", &self.is_cancelled()).finish()
    }
}

impl Cancel {
    /// A token that has not fired.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fires the token and runs every hook registered on it, once.
    pub fn cancel(&self) {
        let hooks = {
            let mut state = self.state();
            state.cancelled = true;
            std::mem::take(&mut state.hooks)
        };
        for (_, hook) in hooks {
            hook();
        }
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.state().cancelled
    }

    /// Runs `hook` when the token fires — at once if it already has, and
    /// then `None` comes back. Dropping the returned guard unregisters the
    /// hook, so a finished step leaves nothing behind on a long-lived token.
    pub fn on_cancel(&self, hook: impl FnOnce() + Send + 'static) -> Option<OnCancel> {
        let mut state = self.state();
        if state.cancelled {
            drop(state);
            hook();
            return None;
        }
        let id = state.next;
        state.next += 1;
        state.hooks.push((id, Box::new(hook)));
        Some(OnCancel { token: self.clone(), id })
    }
}

/// A registered cancellation hook; dropping it unregisters the hook.
#[must_use = "dropping the guard unregisters the hook at once"]
pub struct OnCancel {
    token: Cancel,
    id: u64,
}

impl Drop for OnCancel {
    fn drop(&mut self) {
        self.token.state().hooks.retain(|(id, _)| *id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn hooks_run_once_on_cancel_and_not_after_their_guard_is_dropped() {
        let token = Cancel::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = |runs: &Arc<AtomicUsize>| {
            let runs = runs.clone();
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
            }
        };
        let kept = token.on_cancel(counter(&runs));
        drop(token.on_cancel(counter(&runs)));
        assert!(!token.is_cancelled());
        token.clone().cancel();
        assert!(token.is_cancelled());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "only the kept hook ran");
        token.cancel();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "hooks run once");
        assert!(token.on_cancel(counter(&runs)).is_none(), "a fired token runs a new hook at once");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        drop(kept);
    }
}
