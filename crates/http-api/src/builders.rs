//! Where exports and HLS plans are built: threads of their own (two), not tokio's
//! blocking pool. At most two builds run at once (on two cores more would only share
//! them), and the memory the allocator keeps after a build (glibc keeps freed memory in
//! the arena of the thread that used it) stays with these two threads instead of growing
//! with every blocking thread that ever built a day's `moov`.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

/// The builder threads are gone (the server is stopping) or a build panicked.
#[derive(Debug)]
pub(crate) struct Stopping;

/// Threads that build.
pub const BUILDERS: usize = 2;

type Job = Box<dyn FnOnce() + Send>;

/// The builder threads; they end when this is dropped (with the server's state).
pub(crate) struct Builders {
    jobs: Sender<Job>,
}

impl Builders {
    /// Starts `threads` threads named `http-build`.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name("http-build".to_owned())
                .spawn(move || work(&rx))?;
        }
        Ok(Self { jobs: tx })
    }

    /// Runs `f` on a builder thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Stopping> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.send(job).map_err(|_| Stopping)?;
        // A panicking build drops its sender: an error, not a hang.
        rx.await.map_err(|_| Stopping)
    }
}

/// A builder thread: runs jobs until the sender is gone.
fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_the_named_threads_two_at_once() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let b = Arc::new(Builders::start(2).unwrap());
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let names = rt.block_on(async {
            let mut handles = Vec::new();
            for _ in 0..6 {
                let (b, running, most) = (Arc::clone(&b), Arc::clone(&running), Arc::clone(&most));
                handles.push(async move {
                    b.run(move || {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(30));
                        running.fetch_sub(1, SeqCst);
                        std::thread::current().name().map(str::to_owned)
                    })
                    .await
                    .unwrap()
                });
            }
            futures::future::join_all(handles).await
        });
        assert!(
            names.iter().all(|n| n.as_deref() == Some("http-build")),
            "{names:?}"
        );
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
