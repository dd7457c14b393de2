//! The request to stop, as the sessions see it.

use tokio::sync::watch;

/// Tells the cameras to stop: the name of the first SIGINT/SIGTERM, once one came.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<Option<&'static str>>);

impl Shutdown {
    /// A shutdown that never comes, and its trigger (for tests and callers of their own).
    pub fn manual() -> (watch::Sender<Option<&'static str>>, Self) {
        let (tx, rx) = watch::channel(None);
        (tx, Self(rx))
    }

    /// Waits for the stop request and returns the signal's name. Cancel-safe; returns at
    /// once when it already came.
    pub async fn recv(&mut self) -> &'static str {
        let name = match self.0.wait_for(Option::is_some).await {
            Ok(name) => *name,
            Err(_) => None,
        };
        match name {
            Some(name) => name,
            // The sender is gone: no stop will ever come.
            None => std::future::pending().await,
        }
    }
}
