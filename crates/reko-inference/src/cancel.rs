//! Cooperative cancellation of one request's work. The server runs each analysis on a blocking thread
//! inside [`scope`] with the request's [`Cancel`]; every model run checks it first ([`check`]), so work
//! whose client has gone, or whose deadline has passed, stops at its next inference call instead of
//! running to the end. Work outside a scope (video jobs, evaluations) is never cancelled.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::InferenceError;

/// A request's cancellation flag, shared by the request and its work.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the work to stop at its next model run.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Cancel>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread under `cancel`: model runs inside it fail with
/// [`InferenceError::Cancelled`] once `cancel` is cancelled.
pub fn scope<T>(cancel: &Cancel, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Cancel>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|current| *current.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(CURRENT.with(|current| current.borrow_mut().replace(cancel.clone())));
    f()
}

/// The cancellation this thread's work runs under, if any (to carry it onto helper threads).
pub fn current() -> Option<Cancel> {
    CURRENT.with(|current| current.borrow().clone())
}

/// `Err(Cancelled)` if this thread's work has been cancelled.
pub fn check() -> Result<(), InferenceError> {
    match CURRENT.with(|current| current.borrow().as_ref().is_some_and(Cancel::is_cancelled)) {
        true => Err(InferenceError::Cancelled),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_work_inside_a_cancelled_scope_stops() {
        let cancel = Cancel::new();
        assert!(check().is_ok());
        scope(&cancel, || {
            assert!(check().is_ok());
            cancel.cancel();
            assert!(matches!(check(), Err(InferenceError::Cancelled)));
            // Another thread's work is not this request's.
            std::thread::spawn(|| assert!(check().is_ok())).join().unwrap();
        });
        assert!(check().is_ok(), "the scope ends with its closure");
    }
}
