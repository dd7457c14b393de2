//! The router's inputs about its output rather than its frames: the disk filled up or
//! came back, a fragment could not be queued (a stalled disk), and the bounds on a
//! file's size and duration; and how long a fragment it wrote lasts.

use super::*;

impl Router {
    /// The output ran out of space (the session loop saw a write fail because the disk
    /// is full): closes every open file (`EndReason::DiskFull`; their writers keep what
    /// reached the disk) and drops every frame, counted, until [`Self::output_back`].
    /// Held audio is dropped too.
    pub fn output_lost(&mut self) {
        if self.output == OutputState::Lost {
            return;
        }
        self.output = OutputState::Lost;
        self.dropped_no_space += self.held_audio.len() as u64;
        self.held_audio.clear();
        for file in [self.previous.take(), self.current.take()]
            .into_iter()
            .flatten()
        {
            self.actions.push_back(file.close(EndReason::DiskFull));
        }
        self.segmenter.restart();
        self.discontinuity = false;
    }

    /// There is space again: the next video keyframe (audio only: the next frame) opens
    /// a new file, and recording goes on from there.
    pub fn output_back(&mut self) {
        if self.output == OutputState::Lost {
            self.output = OutputState::Resuming;
        }
    }

    /// True while the output has no space (from [`Self::output_lost`] until a file is
    /// open again).
    #[cfg(test)]
    pub fn output_is_lost(&self) -> bool {
        self.output != OutputState::Writing
    }

    /// Frames dropped so far because the output had no space.
    pub fn dropped_no_space(&self) -> u64 {
        self.dropped_no_space
    }

    /// Whether a primary-track sample (a keyframe with `is_sync`) goes to a file: always
    /// while writing; never while the output is lost; from the first keyframe on once
    /// space is back. Counts the ones dropped.
    pub(super) fn output_takes(&mut self, is_sync: bool) -> bool {
        match self.output {
            OutputState::Writing => true,
            OutputState::Resuming if is_sync => {
                self.output = OutputState::Writing;
                // The new file starts with the stream as it is now.
                self.new_video_parameters = false;
                self.discontinuity = false;
                true
            }
            OutputState::Lost | OutputState::Resuming => {
                self.dropped_no_space += 1;
                false
            }
        }
    }

    /// A fragment of `file` could not be queued to its writer (the disk stalled): the file
    /// is cut at its last queued fragment. It takes no more samples, is finished as
    /// written ([`Action::Cut`]) when the next file starts (at the next video keyframe;
    /// audio only: the next frame) or the session ends. Unknown or closed files are
    /// ignored; so is a file already cut.
    pub fn fragment_dropped(&mut self, file: FileId) {
        for f in [self.current.as_mut(), self.previous.as_mut()]
            .into_iter()
            .flatten()
        {
            if f.id == file && !f.cut {
                f.cut = true;
                // Fragments of it still waiting here would not fit after the cut.
                self.actions
                    .retain(|a| !matches!(a, Action::Write { file: id, .. } if *id == file));
            }
        }
    }

    /// True when the current file has reached `max_file_bytes`.
    pub(super) fn size_due(&self) -> bool {
        self.max_file_bytes
            .is_some_and(|max| self.current.as_ref().is_some_and(|f| f.len_bytes() >= max))
    }

    /// Warns when decision `d` ends the current file because of a bound (size, or
    /// duration when it comes before the segment duration) rather than a planned switch.
    pub(super) fn warn_if_bounded(&self, d: &Decision, size_due: bool) {
        let Some(current) = self.current.as_ref().filter(|_| d.open) else {
            return;
        };
        if size_due {
            tracing::warn!(
                "file reached {} bytes (max_file_size); continuing in a new file",
                current.len_bytes()
            );
        } else if self.cut_by_max_duration {
            tracing::warn!("file reached max_file_duration; continuing in a new file");
        }
    }

    /// How long `fragment` (of a file of this router) lasts: its longest track's
    /// duration. Tracks are numbered from 1 in file order: video, then audio.
    pub fn fragment_length(&self, fragment: &Fragment) -> Duration {
        let clocks: Vec<u32> = [self.video.as_ref(), self.audio.as_ref()]
            .into_iter()
            .flatten()
            .map(Track::clock_hz)
            .collect();
        fragment
            .tracks
            .iter()
            .filter_map(|t| {
                let hz = *clocks.get(t.track.0.get() as usize - 1)?;
                let nanos = u128::from(t.duration) * 1_000_000_000 / u128::from(hz.max(1));
                Some(Duration::from_nanos(
                    u64::try_from(nanos).unwrap_or(u64::MAX),
                ))
            })
            .max()
            .unwrap_or_default()
    }
}
