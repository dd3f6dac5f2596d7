//! A cell filled at most once, without a lock anybody waits on.
//!
//! `OnceLock::get_or_init` makes a thread that finds another one filling
//! the cell wait until it is done. Inside somebody else's process that wait
//! has no bound: a child forked by one thread while another was filling
//! the cell inherits a cell marked "being filled" and no thread that will
//! ever finish, and its first lookup would sleep for ever (the design's
//! rule: no lock is ever waited on without a bound). Here a thread that
//! finds the cell empty makes its own value and publishes it with one
//! compare-and-swap; the loser of a race drops what it made and uses the
//! winner's. What is made must be cheap and free of effects beyond memory
//! (the resolver before its first lookup, an array of health records).

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// See the module documentation.
pub struct RaceCell<T> {
    value: AtomicPtr<T>,
}

// SAFETY: the cell owns at most one `T`, published once and shared by `&`:
// as `OnceLock<T>`, it may be shared between threads when `T` may be, and
// sent when `T` may be.
unsafe impl<T: Send + Sync> Sync for RaceCell<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for RaceCell<T> {}

impl<T> RaceCell<T> {
    /// An empty cell.
    pub const fn new() -> RaceCell<T> {
        RaceCell {
            value: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The value, made by `make` if the cell is empty (several threads
    /// racing may each call their `make`; one value is kept).
    pub fn get_or_make(&self, make: impl FnOnce() -> T) -> &T {
        // SYNC POINT: Acquire pairs with the AcqRel publication below: the
        // value's contents are seen complete.
        let current = self.value.load(Ordering::Acquire);
        if !current.is_null() {
            // SAFETY: a non-null pointer was published below from a live
            // Box and is freed only by `drop`, which takes `&mut self`.
            return unsafe { &*current };
        }
        let made = Box::into_raw(Box::new(make()));
        // SYNC POINT: AcqRel on success publishes the value (Release) and
        // on failure reads the winner's (Acquire).
        match self.value.compare_exchange(
            ptr::null_mut(),
            made,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: `made` is ours, from `Box::into_raw`, now published.
            Ok(_) => unsafe { &*made },
            Err(winner) => {
                // SAFETY: `made` was never published: we still own it.
                drop(unsafe { Box::from_raw(made) });
                // SAFETY: as for `current` above.
                unsafe { &*winner }
            }
        }
    }
}

impl<T> Default for RaceCell<T> {
    fn default() -> Self {
        RaceCell::new()
    }
}

impl<T> Drop for RaceCell<T> {
    fn drop(&mut self) {
        let value = *self.value.get_mut();
        if !value.is_null() {
            // SAFETY: the published value came from `Box::into_raw` and
            // nothing borrows it any more (`&mut self`).
            drop(unsafe { Box::from_raw(value) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_thread_never_waits_for_another_one_filling_the_cell() {
        // The first thread is held inside its `make` (as a thread that no
        // longer exists in a forked child is, for ever): a second thread
        // must not wait for it.
        let cell: &'static RaceCell<u32> = Box::leak(Box::new(RaceCell::new()));
        let (entered, inside) = mpsc::channel();
        let (release, held) = mpsc::channel::<()>();
        let first = std::thread::spawn(move || {
            *cell.get_or_make(|| {
                entered.send(()).unwrap();
                held.recv().unwrap();
                1
            })
        });
        inside.recv().unwrap();
        let (done, second) = mpsc::channel();
        std::thread::spawn(move || done.send(*cell.get_or_make(|| 2)).unwrap());
        let got = second.recv_timeout(Duration::from_secs(10));
        release.send(()).unwrap();
        assert_eq!(got, Ok(2), "the second thread waited for the first");
        // The first published nothing over the second's value: both see 2.
        assert_eq!(first.join().unwrap(), 2);
        assert_eq!(*cell.get_or_make(|| 3), 2);
    }

    #[test]
    fn racing_threads_keep_one_value_and_drop_the_others() {
        static DROPPED: AtomicUsize = AtomicUsize::new(0);
        struct Counted(usize);
        impl Drop for Counted {
            fn drop(&mut self) {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        let cell = RaceCell::new();
        let barrier = std::sync::Barrier::new(8);
        let seen: Vec<usize> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|i| {
                    let (cell, barrier) = (&cell, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        cell.get_or_make(|| Counted(i)).0
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
        let made_and_lost = DROPPED.load(Ordering::Relaxed);
        drop(cell);
        assert_eq!(
            DROPPED.load(Ordering::Relaxed),
            made_and_lost + 1,
            "the kept one dropped with the cell"
        );
    }
}
