//! File names taken in the order the files were opened.
//!
//! Each file of a session is created by its own writer thread, which takes the first
//! free name among `NAME`, `NAME-1`, ... When two files open milliseconds apart (a
//! segment switch right after a reconnect, a burst), the threads could create their
//! files in either order, and a later segment could take the earlier name. A [`Turns`]
//! hands out numbered [`Turn`]s as files are opened (on the receive loop, in order), and
//! each writer thread waits for its turn before it creates its file and drops the turn
//! after, so names follow the recording's order. A turn dropped without a file (the
//! thread failed first) passes too, so no later file waits forever.

use std::sync::{Arc, Condvar, Mutex, PoisonError};

#[derive(Debug, Default)]
struct Shared {
    /// The number of the turn whose file may be created now.
    now: Mutex<u64>,
    changed: Condvar,
}

/// Hands out turns to one session's (or camera's) files, in order.
#[derive(Debug, Default)]
pub struct Turns {
    shared: Arc<Shared>,
    next: u64,
}

impl Turns {
    /// The next file's turn.
    pub fn take(&mut self) -> Turn {
        let n = self.next;
        self.next += 1;
        Turn {
            shared: Arc::clone(&self.shared),
            n,
            passed: false,
        }
    }
}

/// One file's place in the order of creation: [`wait`](Self::wait) for it, create the
/// file, drop it.
#[derive(Debug)]
pub struct Turn {
    shared: Arc<Shared>,
    n: u64,
    /// Set once the next turn may go.
    passed: bool,
}

impl Turn {
    /// Waits until every earlier turn has passed.
    pub fn wait(&self) {
        let mut now = self
            .shared
            .now
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *now < self.n {
            now = self
                .shared
                .changed
                .wait(now)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Lets the next turn go (once, when dropped).
    fn pass(&mut self) {
        if std::mem::replace(&mut self.passed, true) {
            return;
        }
        let mut now = self
            .shared
            .now
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Turns pass in order, as each waits for the one before.
        *now = (*now).max(self.n + 1);
        self.shared.changed.notify_all();
    }
}

impl Drop for Turn {
    /// The file is created, or will never be: once the earlier turns have passed, the
    /// next one may go.
    fn drop(&mut self) {
        if !self.passed {
            self.wait();
            self.pass();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn later_turns_wait_for_earlier_ones() {
        let mut turns = Turns::default();
        let (first, second, third) = (turns.take(), turns.take(), turns.take());
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        // Started in reverse order: each records its number when its turn comes.
        for (name, turn) in [(3, third), (2, second)] {
            let tx = tx.clone();
            threads.push(std::thread::spawn(move || {
                turn.wait();
                tx.send(name).unwrap();
                drop(turn);
            }));
        }
        // Nothing may go before the first turn passes.
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        first.wait();
        tx.send(1).unwrap();
        drop(first);
        let order: Vec<i32> = (0..3).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(order, [1, 2, 3]);
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn a_dropped_turn_passes_so_later_files_go_on() {
        let mut turns = Turns::default();
        let (first, second) = (turns.take(), turns.take());
        drop(first);
        // Returns at once: the dropped first turn passed.
        second.wait();
        drop(second);
        let third = turns.take();
        third.wait();
    }
}
