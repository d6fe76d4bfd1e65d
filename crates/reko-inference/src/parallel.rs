//! One request's independent model runs (recogniser batches, say) spread over a few threads, so that a
//! request alone uses the idle cores. Each model keeps at most as many sessions as the runtime allows
//! ([`crate::RuntimeOptions::max_sessions`]), so concurrent requests share those sessions instead of
//! oversubscribing the cores. Helper threads run under the calling thread's cancellation.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `work` applied to every item, on up to `threads` threads at once (this one among them); the results
/// in item order. With one thread, or one item, everything runs on this thread.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    let cancel = crate::cancel::current();
    let run = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { return };
            let result = work(item);
            results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|| match &cancel {
                Some(cancel) => crate::cancel::scope(cancel, run),
                None => run(),
            });
        }
        run();
    });
    results.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().map(|r| r.expect("every item ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order_on_any_number_of_threads() {
        let items: Vec<u32> = (0..50).collect();
        for threads in [0, 1, 2, 7, 100] {
            assert_eq!(map(&items, threads, |n| n * 2), items.iter().map(|n| n * 2).collect::<Vec<_>>());
        }
        assert!(map(&[] as &[u32], 4, |n| *n).is_empty());
    }

    #[test]
    fn helpers_run_under_the_callers_cancellation() {
        let cancel = crate::cancel::Cancel::new();
        cancel.cancel();
        let checks = crate::cancel::scope(&cancel, || map(&[1, 2, 3, 4], 4, |_| crate::cancel::check().is_err()));
        assert!(checks.iter().all(|&cancelled| cancelled));
    }
}
