//! The file writer: a dedicated thread fed through a bounded channel.
//!
//! Why a thread: `write`, `fsync` and `rename` block, sometimes for long (a slow disk or a
//! network filesystem), and must not stall the RTSP session's reactor (keepalives, socket
//! reads). One long-lived thread owning the file keeps writes strictly in order without a
//! `spawn_blocking` per sample, and the bounded channel gives back-pressure: if the disk
//! cannot keep up, the receive loop slows down instead of buffering without limit. A
//! 1 MiB `BufWriter` turns the many small samples (AAC frames are a few hundred bytes) into
//! large writes.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use mp4_track::Patch;
use tokio::sync::{mpsc, oneshot};

/// Samples (and header) in flight between the receive loop and the writer thread. At
/// ~80 samples per second (30 fps video + 48 kHz AAC) this is about 1.5 s of media.
const CHANNEL_CAPACITY: usize = 128;
const BUFFER_BYTES: usize = 1 << 20;

enum Msg {
    /// Bytes that must land at `offset`, which must be the current end of the file.
    Append { offset: u64, bytes: Bytes },
    /// Append `tail`, apply `patches`, fsync, rename to the final path.
    Finish { tail: Bytes, patches: Vec<Patch> },
}

/// Writes `<FILE>.partial`, then renames it to `<FILE>` when finished.
pub struct FileWriter {
    tx: mpsc::Sender<Msg>,
    /// The thread's result; `None` once taken.
    done: Option<oneshot::Receiver<anyhow::Result<u64>>>,
    partial: PathBuf,
}

/// `<FILE>.partial`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

impl FileWriter {
    /// Creates `<path>.partial` (replacing any such file) and starts the writer thread.
    /// A missing directory is an error.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            bail!("output directory {} does not exist", dir.display());
        }
        if path.is_dir() {
            bail!("output {} is a directory", path.display());
        }
        let partial = partial_path(path);
        let file = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (done_tx, done) = oneshot::channel();
        let (partial_c, final_c) = (partial.clone(), path.to_owned());
        std::thread::Builder::new()
            .name("mp4-writer".to_owned())
            .spawn(move || {
                // The receiver may be gone if the recording was abandoned.
                let _ = done_tx.send(run(file, &partial_c, &final_c, rx));
            })
            .context("cannot start the writer thread")?;
        Ok(Self {
            tx,
            done: Some(done),
            partial,
        })
    }

    /// Queues `bytes` to be written at `offset` (the current end of the file). Waits when
    /// the queue is full.
    pub async fn append(&mut self, offset: u64, bytes: Bytes) -> anyhow::Result<()> {
        if self.tx.send(Msg::Append { offset, bytes }).await.is_err() {
            // The thread stopped early: it has an error to tell.
            return Err(self
                .wait()
                .await
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("the writer stopped unexpectedly")));
        }
        Ok(())
    }

    /// Appends `tail`, applies `patches`, syncs and renames to the final path. Returns the
    /// file's length.
    pub async fn finish(mut self, tail: Bytes, patches: Vec<Patch>) -> anyhow::Result<u64> {
        // If the send fails the thread has already stopped with an error, returned below.
        let _ = self.tx.send(Msg::Finish { tail, patches }).await;
        self.wait().await
    }

    /// Stops writing and deletes the partial file.
    pub async fn abandon(self) {
        let Self { tx, done, partial } = self;
        drop(tx);
        if let Some(done) = done {
            let _ = done.await;
        }
        if let Err(e) = std::fs::remove_file(&partial) {
            tracing::warn!("cannot remove {}: {e}", partial.display());
        }
    }

    async fn wait(&mut self) -> anyhow::Result<u64> {
        match self.done.take() {
            Some(done) => done
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the writer thread panicked"))),
            None => Err(anyhow::anyhow!("the writer has already stopped")),
        }
    }
}

fn run(
    file: File,
    partial: &Path,
    final_path: &Path,
    mut rx: mpsc::Receiver<Msg>,
) -> anyhow::Result<u64> {
    let write_err = || format!("cannot write {}", partial.display());
    let mut out = BufWriter::with_capacity(BUFFER_BYTES, file);
    let mut len = 0u64;
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Append { offset, bytes } => {
                if offset != len {
                    bail!("internal error: muxer offset {offset} is not the file length {len}");
                }
                out.write_all(&bytes).with_context(write_err)?;
                len += bytes.len() as u64;
            }
            Msg::Finish { tail, patches } => {
                out.write_all(&tail).with_context(write_err)?;
                len += tail.len() as u64;
                let mut file = out
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(write_err)?;
                for patch in &patches {
                    file.seek(SeekFrom::Start(patch.offset))
                        .and_then(|_| file.write_all(&patch.bytes))
                        .with_context(write_err)?;
                }
                file.sync_all()
                    .with_context(|| format!("cannot sync {}", partial.display()))?;
                drop(file);
                std::fs::rename(partial, final_path).with_context(|| {
                    format!(
                        "cannot rename {} to {}",
                        partial.display(),
                        final_path.display()
                    )
                })?;
                // Make the rename durable too; not all platforms can open a directory.
                if let Some(dir) = final_path.parent().filter(|d| !d.as_os_str().is_empty())
                    && let Ok(d) = File::open(dir)
                {
                    let _ = d.sync_all();
                }
                return Ok(len);
            }
        }
    }
    // Abandoned: the channel closed without `Finish`.
    out.flush().with_context(write_err)?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("recorder-writer-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[tokio::test]
    async fn appends_patches_and_renames() {
        let dir = temp_dir("ok");
        let path = dir.join("out.mp4");
        let mut w = FileWriter::create(&path).expect("create");
        assert!(partial_path(&path).exists());
        w.append(0, Bytes::from_static(b"head"))
            .await
            .expect("append");
        w.append(4, Bytes::from_static(b"data"))
            .await
            .expect("append");
        let len = w
            .finish(
                Bytes::from_static(b"TAIL"),
                vec![Patch {
                    offset: 1,
                    bytes: Bytes::from_static(b"EA"),
                }],
            )
            .await
            .expect("finish");
        assert_eq!(len, 12);
        assert_eq!(std::fs::read(&path).expect("read"), b"hEAddataTAIL");
        assert!(!partial_path(&path).exists());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[tokio::test]
    async fn wrong_offset_is_an_error() {
        let dir = temp_dir("offset");
        let path = dir.join("out.mp4");
        let mut w = FileWriter::create(&path).expect("create");
        w.append(0, Bytes::from_static(b"abc"))
            .await
            .expect("append");
        // The error surfaces on a later call, once the thread has seen it.
        let _ = w.append(7, Bytes::from_static(b"x")).await;
        let err = w.finish(Bytes::new(), Vec::new()).await.unwrap_err();
        assert!(err.to_string().contains("offset 7"), "{err:#}");
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn missing_directory_is_an_error() {
        let err = FileWriter::create(Path::new("/nonexistent-recorder-dir/out.mp4"))
            .err()
            .expect("error");
        assert_eq!(
            err.to_string(),
            "output directory /nonexistent-recorder-dir does not exist"
        );
    }

    #[test]
    fn partial_name_appends_suffix() {
        assert_eq!(
            partial_path(Path::new("dir/cam.mp4")),
            PathBuf::from("dir/cam.mp4.partial")
        );
    }
}
