//! Fragmented recording: a file that stays playable after a crash, turned progressive in
//! place at a clean close.

use std::collections::VecDeque;
use std::num::NonZeroU32;

use bmff_boxes::{Encode, Free, Ftyp, Prft};
use bytes::{Bytes, BytesMut};

use crate::finalize::{self, Finalize, Layout};
use crate::moof::{Run, RunSample, fragment_header};
use crate::moov::{self, MovieTrack};
use crate::{
    Error, Fragment, FragmentTrack, FragmentedOptions, SampleInfo, TableSample, TrackConfig,
    TrackId, TrackKind, TrackProgress, TrackTables,
};

/// A sample pushed but not yet in a fragment.
#[derive(Debug)]
struct Pending {
    dts: u64,
    cts_offset: i32,
    size: u32,
    is_sync: bool,
    data: Bytes,
}

#[derive(Debug)]
struct Track {
    movie: MovieTrack,
    pending: VecDeque<Pending>,
    last_dts: Option<u64>,
    /// Delta between the last two pushed samples.
    last_delta: Option<NonZeroU32>,
    /// Duration of the last pushed sample set by [`FragmentedMuxer::set_track_end`].
    end_delta: Option<NonZeroU32>,
    /// Samples pushed, fragmented or pending.
    pushed: u32,
}

impl Track {
    fn is_video(&self) -> bool {
        matches!(self.movie.kind, TrackKind::Video { .. })
    }

    /// Duration given to the last sample at the end of the recording, as
    /// [`TrackTables::last_sample_duration`] does: the previous duration, else the default,
    /// else 1.
    fn final_duration(&self) -> u32 {
        self.end_delta
            .or(self.last_delta)
            .or(self.movie.default_sample_duration)
            .map_or(1, NonZeroU32::get)
    }
}

/// A time as (ticks, timescale).
type Time = (u64, u32);

/// `a >= b + ms` milliseconds, exactly.
fn at_least_after(a: Time, b: Time, ms: u64) -> bool {
    let (ad, at) = (u128::from(a.0), u128::from(a.1));
    let (bd, bt) = (u128::from(b.0), u128::from(b.1));
    ad * bt * 1000 >= bd * at * 1000 + u128::from(ms) * at * bt
}

/// `a < b`, exactly.
fn before(a: Time, b: Time) -> bool {
    u128::from(a.0) * u128::from(b.1) < u128::from(b.0) * u128::from(a.1)
}

/// The brands of a fragmented file (kept after finalizing): `isom` (minor version 512),
/// compatible with `isom`, `iso6` (movie fragments with `tfdt`), `iso2`, `avc1`, `mp41`.
fn ftyp() -> Ftyp {
    Ftyp {
        major_brand: *b"isom",
        minor_version: 512,
        compatible_brands: vec![*b"isom", *b"iso6", *b"iso2", *b"avc1", *b"mp41"],
    }
}

/// Crash-safe muxer: writes a fragmented MP4 while recording and turns it into a
/// progressive one, `moov` first, in place at close.
///
/// File layout while recording:
///
/// ```text
/// [ftyp][free: reserve_bytes][moov: init, mvex][moof 1][mdat 1][moof 2][mdat 2]...
/// ```
///
/// Every fragment is self-contained (`tfdt` decode times, sizes, flags), so a file cut
/// anywhere plays up to its last complete fragment, and [`Recovery`](crate::Recovery)
/// rebuilds the rest. At close, [`finalize`](Self::finalize) returns a plan of small
/// in-place writes that leaves:
///
/// ```text
/// [ftyp][free 8][moov: final][free: rest of reserve, init moov, moof 1][mdat 1][free][mdat 2]...
/// ```
///
/// (or the final `moov` at the end when it does not fit the reserve). Media data is never
/// moved or copied. See [`Finalize`] for the order of the writes and why each
/// intermediate state is safe.
///
/// Usage: [`add_track`](Self::add_track) for each track, [`start`](Self::start) and write
/// its bytes, then [`push`](Self::push) samples (the data is held by reference count until
/// its fragment is written) and write each fragment that
/// [`poll_fragment`](Self::poll_fragment) returns; at the end, write what
/// [`flush`](Self::flush) returns until it returns `None`, then apply
/// [`finalize`](Self::finalize)'s plan.
///
/// Since the init `moov` is written first, every track has exactly one sample entry.
///
/// # Interleaving
///
/// Each track's samples must come in decode order; across tracks the muxer takes them in
/// whatever order they are pushed and never holds one track back for another. A fragment
/// holds, for every track, the samples pushed so far that are due before its end, so
/// pushing the tracks interleaved in time (within about
/// [`fragment_duration_ms`](FragmentedOptions::fragment_duration_ms) of each other, as a
/// live source delivers them) gives fragments that each cover every track over the same
/// stretch, and a crash loses at most the fragment in progress of each. A track pushed
/// behind the others (all video, then all audio) is cut on its own time: once its pending
/// samples span `2 * fragment_duration_ms` (with video; `fragment_duration_ms` without),
/// they go out in a fragment, so no sample waits longer than that for a fragment; but what
/// the caller has not pushed yet, no fragment can hold.
#[derive(Debug)]
pub struct FragmentedMuxer {
    options: FragmentedOptions,
    tracks: Vec<Track>,
    started: bool,
    flushed: bool,
    layout: Layout,
    file_len: u64,
    next_sequence: u32,
    /// Start time of the fragment being gathered, once it has a sample.
    fragment_start: Option<Time>,
    ready: VecDeque<Fragment>,
    /// Nanoseconds since the Unix epoch at media time 0 of the shared timeline
    /// ([`set_wall_clock_origin`](Self::set_wall_clock_origin)).
    wall_origin_ns: Option<i128>,
}

impl FragmentedMuxer {
    /// A muxer with no tracks yet.
    pub fn new(options: FragmentedOptions) -> Self {
        Self {
            options,
            tracks: Vec::new(),
            started: false,
            flushed: false,
            layout: Layout::default(),
            file_len: 0,
            next_sequence: 1,
            fragment_start: None,
            ready: VecDeque::new(),
            wall_origin_ns: None,
        }
    }

    /// Names the shared timeline's media time 0 on the wall clock: `unix_ns` nanoseconds
    /// since the Unix epoch (the caller's clock: the muxer reads none). From the next
    /// fragment on, each fragment starts with a [`Prft`] (ISO/IEC 14496-12 §8.16.5,
    /// version 1, flags [`Prft::CAPTURE_TIME`]) just before its `moof`: the first track of
    /// the fragment, the presentation time of its first sample there, and that instant's
    /// NTP time, `unix_ns` plus the media time. The `prft` counts in the fragment
    /// ([`Fragment::offset`] is its offset), and [`finalize`](Self::finalize) and
    /// [`Recovery`](crate::Recovery) hide it with the `moof`.
    pub fn set_wall_clock_origin(&mut self, unix_ns: i128) {
        self.wall_origin_ns = Some(unix_ns);
    }

    /// Adds a track; must be called before [`start`](Self::start).
    pub fn add_track(&mut self, config: TrackConfig) -> Result<TrackId, Error> {
        if self.started {
            return Err(Error::AlreadyStarted);
        }
        let n = u32::try_from(self.tracks.len() + 1).expect("fewer than u32::MAX tracks");
        if config.timescale_hz == 0 {
            return Err(Error::ZeroTimescale { track: n });
        }
        self.tracks.push(Track {
            movie: MovieTrack {
                kind: config.kind,
                timescale_hz: config.timescale_hz,
                default_sample_duration: config.default_sample_duration,
                sample_entries: vec![config.sample_entry],
                tables: TrackTables::new(n),
            },
            pending: VecDeque::new(),
            last_dts: None,
            last_delta: None,
            end_delta: None,
            pushed: 0,
        });
        Ok(TrackId(NonZeroU32::new(n).expect("n >= 1")))
    }

    /// Returns the bytes that start the file: `ftyp`, the reserved `free` box, and the
    /// init `moov` (empty sample tables, `mvex` with one `trex` per track).
    pub fn start(&mut self) -> Result<Bytes, Error> {
        if self.started {
            return Err(Error::AlreadyStarted);
        }
        let o = &self.options;
        if o.movie_timescale_hz == 0 {
            return Err(Error::ZeroMovieTimescale);
        }
        let reserve = match o.reserve_bytes.max(8) {
            n @ ..=0xFFFF_FFFF => Free {
                data_len: (n - 8) as u32,
            },
            n => return Err(Error::InvalidReserve { bytes: n }),
        };
        let movie_tracks: Vec<&MovieTrack> = self.tracks.iter().map(|t| &t.movie).collect();
        let init = moov::init(
            &movie_tracks,
            o.movie_timescale_hz,
            o.creation_time_1904,
            moov::udta(&o.user_data),
        );
        let ftyp = ftyp();
        let len = ftyp.encoded_len() + reserve.encoded_len() + init.encoded_len();
        let mut out = BytesMut::with_capacity(usize::try_from(len).expect("fits in memory"));
        ftyp.encode(&mut out);
        self.layout.reserve_offset = out.len() as u64;
        reserve.encode(&mut out);
        self.layout.reserve_len = reserve.encoded_len();
        self.layout.init_moov_offset = out.len() as u64;
        init.encode(&mut out);
        self.layout.init_moov_len = init.encoded_len();
        self.file_len = out.len() as u64;
        self.layout.end = self.file_len;
        self.started = true;
        Ok(out.freeze())
    }

    /// Records one sample of `track` with its data (held by reference count, not copied,
    /// until its fragment is returned). Decode times must increase strictly per track.
    ///
    /// A sample's duration is only known when the track's next sample arrives, so the
    /// last sample of each track stays pending. When this sample completes a fragment
    /// (see [`FragmentedOptions::fragment_duration_ms`]), that fragment becomes available
    /// from [`poll_fragment`](Self::poll_fragment). On error nothing is recorded.
    pub fn push(&mut self, track: TrackId, sample: SampleInfo, data: Bytes) -> Result<(), Error> {
        if !self.started {
            return Err(Error::NotStarted);
        }
        if self.flushed {
            return Err(Error::AlreadyFlushed);
        }
        let id = track.0.get();
        let t = self
            .tracks
            .get_mut(id as usize - 1)
            .ok_or(Error::UnknownTrack(id))?;
        if data.len() as u64 != u64::from(sample.size) {
            return Err(Error::SizeMismatch {
                track: id,
                size: sample.size,
                data_len: data.len() as u64,
            });
        }
        if t.pushed == u32::MAX {
            return Err(Error::TooManySamples { track: id });
        }
        let delta = match t.last_dts {
            Some(prev) if sample.dts <= prev => {
                return Err(Error::NonMonotonicTimestamp {
                    track: id,
                    prev,
                    got: sample.dts,
                });
            }
            Some(prev) => {
                let d = sample.dts - prev;
                let d = u32::try_from(d).map_err(|_| Error::SampleDurationTooLong {
                    track: id,
                    duration: d,
                })?;
                NonZeroU32::new(d)
            }
            None => None,
        };
        // Checks done: record.
        t.pushed += 1;
        t.last_dts = Some(sample.dts);
        t.end_delta = None;
        if delta.is_some() {
            t.last_delta = delta;
        }
        t.pending.push_back(Pending {
            dts: sample.dts,
            cts_offset: sample.cts_offset,
            size: sample.size,
            is_sync: sample.is_sync,
            data,
        });
        let now = (sample.dts, t.movie.timescale_hz);
        let oldest = (t.pending[0].dts, t.movie.timescale_hz);
        let triggers_video = t.is_video() && sample.is_sync;

        let Some(start) = self.fragment_start else {
            self.fragment_start = Some(now);
            return Ok(());
        };
        let d = u64::from(self.options.fragment_duration_ms);
        let has_video = self.tracks.iter().any(Track::is_video);
        let longest = if has_video { 2 * d } else { d };
        // A track pushed behind the others (its samples before the fragment's start) is
        // cut on its own time: none of its samples waits longer than `longest`.
        let cut = (triggers_video && at_least_after(now, start, d))
            || at_least_after(now, start, longest)
            || at_least_after(now, oldest, longest);
        if cut {
            // Every sample before `now` whose duration is known, i.e. not its track's last.
            let take: Vec<usize> = self
                .tracks
                .iter()
                .map(|t| {
                    let known = t.pending.len().saturating_sub(1);
                    t.pending
                        .iter()
                        .take(known)
                        .take_while(|p| before((p.dts, t.movie.timescale_hz), now))
                        .count()
                })
                .collect();
            if take.iter().any(|&n| n > 0) {
                self.cut(&take, false);
                if !before(now, start) {
                    self.fragment_start = Some(now);
                }
            }
        }
        Ok(())
    }

    /// Sets where `track`'s media ends: its last pushed sample lasts until `end_dts` (in
    /// the track's timescale, on the shared timeline), e.g. the decode time of the sample
    /// that follows it in the next file of a segmented recording. Without it, [`flush`]
    /// gives the last sample the duration of the one before it. A later
    /// [`push`](Self::push) clears it.
    ///
    /// [`flush`]: Self::flush
    pub fn set_track_end(&mut self, track: TrackId, end_dts: u64) -> Result<(), Error> {
        let id = track.0.get();
        let t = self
            .tracks
            .get_mut(id as usize - 1)
            .ok_or(Error::UnknownTrack(id))?;
        let Some(last) = t.last_dts else {
            return Ok(());
        };
        if end_dts <= last {
            return Err(Error::NonMonotonicTimestamp {
                track: id,
                prev: last,
                got: end_dts,
            });
        }
        let d = end_dts - last;
        t.end_delta = Some(u32::try_from(d).ok().and_then(NonZeroU32::new).ok_or(
            Error::SampleDurationTooLong {
                track: id,
                duration: d,
            },
        )?);
        Ok(())
    }

    /// What has been pushed to `track` so far: its sample count and where its media ends.
    pub fn track_progress(&self, track: TrackId) -> Result<TrackProgress, Error> {
        let id = track.0.get();
        let t = self
            .tracks
            .get(id as usize - 1)
            .ok_or(Error::UnknownTrack(id))?;
        Ok(TrackProgress {
            samples: u64::from(t.pushed),
            last_dts: t.last_dts,
            end_dts: t.last_dts.map(|d| d + u64::from(t.final_duration())),
            end_set: t.end_delta.is_some(),
        })
    }

    /// The next fragment to write, if one is complete.
    pub fn poll_fragment(&mut self) -> Option<Fragment> {
        self.ready.pop_front()
    }

    /// Ends the recording's last fragment with every pending sample, giving each track's
    /// last sample the duration of the one before it (else the track's
    /// [`default_sample_duration`](TrackConfig::default_sample_duration), else 1; never
    /// 0), and returns the next fragment to write. Call until it returns `None` (it also
    /// returns fragments not yet polled). Afterwards [`push`](Self::push) is refused.
    pub fn flush(&mut self) -> Option<Fragment> {
        if self.started && !self.flushed {
            self.flushed = true;
            let take: Vec<usize> = self.tracks.iter().map(|t| t.pending.len()).collect();
            if take.iter().any(|&n| n > 0) {
                self.cut(&take, true);
            }
        }
        self.ready.pop_front()
    }

    /// Length of the file once every fragment returned so far is written.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The plan that turns the finished fragmented file into a progressive one in place,
    /// after [`flush`](Self::flush) returned `None` and every fragment was written.
    pub fn finalize(self) -> Result<Finalize, Error> {
        if !self.started {
            return Err(Error::NotStarted);
        }
        let pending_samples: usize = self.tracks.iter().map(|t| t.pending.len()).sum();
        if pending_samples > 0 || !self.ready.is_empty() {
            return Err(Error::NotFlushed {
                pending_samples,
                unwritten_fragments: self.ready.len(),
            });
        }
        let o = &self.options;
        let tracks = self.tracks.into_iter().map(|t| t.movie).collect();
        let moov = moov::progressive(
            tracks,
            o.movie_timescale_hz,
            o.creation_time_1904,
            moov::udta(&o.user_data),
        );
        Ok(finalize::plan(&self.layout, &moov, None))
    }

    /// Moves the first `take[i]` pending samples of each track `i` into a new fragment
    /// at the end of the file; with `flush`, a track's last sample gets its final
    /// duration, else every taken sample must have a successor.
    fn cut(&mut self, take: &[usize], flush: bool) {
        let offset = self.file_len;
        let sequence_number = self.next_sequence;
        self.next_sequence += 1;
        let mut runs = Vec::with_capacity(take.len());
        for (i, (t, &n)) in self.tracks.iter().zip(take).enumerate() {
            if n == 0 {
                continue;
            }
            let mut samples = Vec::with_capacity(n);
            for k in 0..n {
                let p = &t.pending[k];
                let duration = match t.pending.get(k + 1) {
                    Some(next) => (next.dts - p.dts) as u32, // checked at push
                    None => {
                        debug_assert!(flush, "a taken sample without successor");
                        t.final_duration()
                    }
                };
                samples.push(RunSample {
                    duration,
                    size: p.size,
                    is_sync: p.is_sync,
                    cts_offset: p.cts_offset,
                });
            }
            runs.push(Run {
                track_id: i as u32 + 1,
                base_media_decode_time: t.pending[0].dts,
                samples,
            });
        }
        let prft = self.wall_origin_ns.map(|origin| {
            let run = &runs[0];
            let t = &self.tracks[run.track_id as usize - 1];
            // The first sample's presentation: its decode time plus its offset.
            let first_cts = run.samples.first().map_or(0, |s| s.cts_offset);
            let media_time = run
                .base_media_decode_time
                .saturating_add_signed(i64::from(first_cts));
            let hz = i128::from(t.movie.timescale_hz);
            let ns = origin + i128::from(media_time) * 1_000_000_000 / hz;
            Prft {
                reference_track_id: run.track_id,
                ntp_timestamp: Prft::ntp_from_unix_nanos(ns),
                media_time,
                flags: Prft::CAPTURE_TIME,
            }
        });
        let prft_len = prft.as_ref().map_or(0, Encode::encoded_len);
        let moof_offset = offset + prft_len;
        let (moof, moof_len, run_offsets) = fragment_header(sequence_number, moof_offset, &runs);
        let header = match &prft {
            Some(p) => {
                let mut b = BytesMut::with_capacity(prft_len as usize + moof.len());
                p.encode(&mut b);
                b.extend_from_slice(&moof);
                b.freeze()
            }
            None => moof,
        };
        let mut data = Vec::with_capacity(take.iter().sum());
        let mut tracks = Vec::with_capacity(runs.len());
        for (run, run_offset) in runs.iter().zip(run_offsets) {
            let t = &mut self.tracks[run.track_id as usize - 1];
            let mut at = run_offset;
            let mut duration = 0u64;
            for s in &run.samples {
                let p = t.pending.pop_front().expect("taken samples are pending");
                t.movie
                    .tables
                    .push(TableSample {
                        dts: p.dts,
                        cts_offset: p.cts_offset,
                        size: p.size,
                        is_sync: p.is_sync,
                        sample_description_index: 1,
                        offset_bytes: at,
                    })
                    .expect("timestamps and counts were checked at push");
                at += u64::from(p.size);
                duration += u64::from(s.duration);
                data.push(p.data);
            }
            let last = run.samples.last().expect("runs are not empty").duration;
            if let Some(last) = NonZeroU32::new(last) {
                t.movie.tables.set_last_sample_duration(last);
            }
            tracks.push(FragmentTrack {
                track: TrackId(NonZeroU32::new(run.track_id).expect("track ids start at 1")),
                base_media_decode_time: run.base_media_decode_time,
                duration,
                sample_count: run.samples.len() as u32,
            });
        }
        let fragment = Fragment {
            offset,
            header,
            data,
            sequence_number,
            tracks,
        };
        if prft.is_some() {
            self.layout.moofs.push(offset);
        }
        self.layout.moofs.push(moof_offset);
        self.layout
            .first_moof
            .get_or_insert((offset, prft_len + moof_len));
        self.file_len = fragment.end_offset();
        self.layout.end = self.file_len;
        self.ready.push_back(fragment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_comparisons_are_exact_across_timescales() {
        // 1 s at 90 kHz vs 48 kHz.
        assert!(at_least_after((90_000, 90_000), (0, 48_000), 1000));
        assert!(!at_least_after((89_999, 90_000), (0, 48_000), 1000));
        assert!(at_least_after((96_000, 48_000), (90_000, 90_000), 1000));
        assert!(before((47_999, 48_000), (90_000, 90_000)));
        assert!(!before((48_000, 48_000), (90_000, 90_000)));
        // No overflow at the extremes.
        assert!(at_least_after(
            (u64::MAX, 1),
            (0, u32::MAX),
            u64::from(u32::MAX) * 2
        ));
    }
}
