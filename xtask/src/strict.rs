//! Strict structural check of an MP4 file with `mp4-atom` (feature `strict`), a parser
//! written elsewhere, plus cross-checks of the sample tables it decodes.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use mp4_atom::{Any, Decode, Moof, Moov, StszSamples, Trak};

/// What the strict parse found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrictSummary {
    /// Top-level box types in file order.
    pub top_level: Vec<String>,
    /// Per track: handler, sample entry fourcc, sample count (sample tables plus
    /// fragments).
    pub tracks: Vec<(String, String, u64)>,
    /// Number of movie fragments (`moof`); 0 for a progressive file.
    pub fragments: u64,
}

impl StrictSummary {
    /// True when the `moov` comes before the first `mdat` (a "faststart" file).
    pub fn moov_before_mdat(&self) -> bool {
        let pos = |kind: &str| self.top_level.iter().position(|k| k == kind);
        matches!((pos("moov"), pos("mdat")), (Some(m), Some(d)) if m < d)
    }
}

impl fmt::Display for StrictSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 6;
        write!(
            f,
            "{}",
            self.top_level[..self.top_level.len().min(SHOWN)].join(" ")
        )?;
        if self.top_level.len() > SHOWN {
            let count = |kind: &str| self.top_level.iter().filter(|k| *k == kind).count();
            write!(
                f,
                " ... ({} boxes: {} mdat, {} moof, {} free)",
                self.top_level.len(),
                count("mdat"),
                count("moof"),
                count("free")
            )?;
        }
        if self.fragments > 0 {
            write!(f, "; {} fragments", self.fragments)?;
        }
        for (handler, entry, samples) in &self.tracks {
            write!(f, "; {handler} {entry} {samples} samples")?;
        }
        Ok(())
    }
}

/// Parses the whole file with mp4-atom in strict mode (unknown or malformed boxes are
/// errors) and checks each track's tables against each other and against the `mdat`s;
/// for a fragmented file, also each fragment's runs.
pub fn check_file(path: &Path) -> Result<StrictSummary> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    check_bytes(&data)
}

/// [`check_file`] on bytes in memory.
pub fn check_bytes(data: &[u8]) -> Result<StrictSummary> {
    let mut buf = data;
    let mut top_level = Vec::new();
    let mut moov = None;
    let mut moofs: Vec<(u64, Moof)> = Vec::new();
    let mut mdats: Vec<(u64, u64)> = Vec::new();
    while !buf.is_empty() {
        let offset = (data.len() - buf.len()) as u64;
        let atom = Any::decode(&mut buf)
            .with_context(|| format!("mp4-atom (strict) rejects the box at offset {offset}"))?;
        let end = (data.len() - buf.len()) as u64;
        top_level.push(atom.kind().to_string());
        match atom {
            Any::Moov(m) => {
                ensure!(moov.is_none(), "more than one moov");
                moov = Some(m);
            }
            Any::Mdat(m) => mdats.push((end - m.data.len() as u64, end)),
            Any::Moof(m) => moofs.push((offset, m)),
            _ => {}
        }
    }
    ensure!(
        top_level.first().map(String::as_str) == Some("ftyp"),
        "the file does not start with ftyp (top level: {})",
        top_level.join(" ")
    );
    let moov = moov.context("no moov box")?;
    ensure!(!mdats.is_empty(), "no mdat box");
    ensure!(!moov.trak.is_empty(), "moov has no tracks");
    let fragmented = !moofs.is_empty();
    if fragmented {
        ensure!(moov.mvex.is_some(), "moof boxes without mvex in the moov");
    }

    let mut tracks = Vec::new();
    for trak in &moov.trak {
        let id = trak.tkhd.track_id;
        let mut samples =
            check_track(trak, &mdats, fragmented).with_context(|| format!("track {id}"))?;
        samples += check_fragments(&moov, id, &moofs, &mdats)
            .with_context(|| format!("track {id} fragments"))?;
        ensure!(samples > 0, "track {id}: no samples");
        let entry = match trak.mdia.minf.stbl.stsd.codecs.first() {
            Some(mp4_atom::Codec::Unknown(kind, _)) => kind.to_string(),
            Some(codec) => format!("{codec:?}")
                .split('(')
                .next()
                .unwrap_or("?")
                .to_ascii_lowercase(),
            None => bail!("track {id}: stsd has no sample entry"),
        };
        tracks.push((trak.mdia.hdlr.handler.to_string(), entry, samples));
    }
    let mut prev_seq = 0;
    for (offset, moof) in &moofs {
        ensure!(
            moof.mfhd.sequence_number > prev_seq,
            "moof at {offset}: sequence number {} after {prev_seq}",
            moof.mfhd.sequence_number
        );
        prev_seq = moof.mfhd.sequence_number;
    }
    Ok(StrictSummary {
        top_level,
        tracks,
        fragments: moofs.len() as u64,
    })
}

/// Number of entries in the `ctts` of a progressive file's video track (0 without a
/// `ctts`), read by mp4-atom: a stream with B-frames must have one.
pub fn video_ctts_entries(path: &Path) -> Result<usize> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut buf = &data[..];
    while !buf.is_empty() {
        if let Any::Moov(moov) = Any::decode(&mut buf).context("mp4-atom (strict)")? {
            let video = moov
                .trak
                .iter()
                .find(|t| t.mdia.hdlr.handler == b"vide".into())
                .context("no video track")?;
            return Ok(video
                .mdia
                .minf
                .stbl
                .ctts
                .as_ref()
                .map_or(0, |c| c.entries.len()));
        }
    }
    bail!("no moov box")
}

fn inside(mdats: &[(u64, u64)], start: u64, len: u64) -> bool {
    mdats
        .iter()
        .any(|&(s, e)| start >= s && start.checked_add(len).is_some_and(|end| end <= e))
}

/// Checks that every sample of `track_id` in the fragments lies inside an `mdat`
/// payload; returns how many there are.
fn check_fragments(
    moov: &Moov,
    track_id: u32,
    moofs: &[(u64, Moof)],
    mdats: &[(u64, u64)],
) -> Result<u64> {
    let trex = moov
        .mvex
        .as_ref()
        .and_then(|m| m.trex.iter().find(|t| t.track_id == track_id));
    let mut count = 0u64;
    for (moof_offset, moof) in moofs {
        for traf in moof.traf.iter().filter(|t| t.tfhd.track_id == track_id) {
            let trex = trex.context("a traf for a track without trex")?;
            ensure!(
                traf.tfdt.is_some(),
                "moof at {moof_offset}: traf without tfdt"
            );
            let base = traf.tfhd.base_data_offset.unwrap_or(*moof_offset);
            for trun in &traf.trun {
                let mut at = base
                    .checked_add_signed(i64::from(trun.data_offset.unwrap_or(0)))
                    .context("data offset before the file")?;
                for (i, e) in trun.samples.iter().enumerate() {
                    let size = u64::from(
                        e.size
                            .or(traf.tfhd.default_sample_size)
                            .unwrap_or(trex.default_sample_size),
                    );
                    ensure!(
                        inside(mdats, at, size),
                        "moof at {moof_offset}: sample {i} at bytes {at}..{} is outside every \
                         mdat payload",
                        at + size
                    );
                    at += size;
                    count += 1;
                }
            }
        }
    }
    Ok(count)
}

/// Expands stsc/stco|co64/stsz and checks that every sample lies inside an mdat payload
/// and that stts, stsz and stsc agree on the sample count. Returns the sample count,
/// which may be 0 only in a fragmented file's init `moov`.
fn check_track(trak: &Trak, mdats: &[(u64, u64)], fragmented: bool) -> Result<u64> {
    let stbl = &trak.mdia.minf.stbl;
    let sizes: Vec<u64> = match &stbl.stsz.samples {
        StszSamples::Identical { count, size } => vec![u64::from(*size); *count as usize],
        StszSamples::Different { sizes } => sizes.iter().map(|&s| u64::from(s)).collect(),
    };
    let stts_count: u64 = stbl
        .stts
        .entries
        .iter()
        .map(|e| u64::from(e.sample_count))
        .sum();
    ensure!(
        stts_count == sizes.len() as u64,
        "stts counts {stts_count} samples, stsz {}",
        sizes.len()
    );
    ensure!(fragmented || !sizes.is_empty(), "no samples");
    let chunk_offsets: Vec<u64> = match (&stbl.stco, &stbl.co64) {
        (Some(stco), None) => stco.entries.iter().map(|&o| u64::from(o)).collect(),
        (None, Some(co64)) => co64.entries.clone(),
        _ => bail!("expected exactly one of stco and co64"),
    };
    let entries = &stbl.stsc.entries;
    ensure!(
        entries.first().is_none_or(|e| e.first_chunk == 1),
        "stsc must start at chunk 1"
    );
    let entry_count = stbl.stsd.codecs.len() as u32;
    let mut sample = 0usize;
    for (i, e) in entries.iter().enumerate() {
        let last_chunk = match entries.get(i + 1) {
            Some(next) => {
                ensure!(
                    next.first_chunk > e.first_chunk,
                    "stsc first_chunk not increasing"
                );
                next.first_chunk - 1
            }
            None => chunk_offsets.len() as u32,
        };
        ensure!(
            (1..=entry_count).contains(&e.sample_description_index),
            "stsc refers to sample entry {} of {entry_count}",
            e.sample_description_index
        );
        for chunk in e.first_chunk..=last_chunk {
            let mut offset = *chunk_offsets
                .get(chunk as usize - 1)
                .with_context(|| format!("stsc refers to chunk {chunk} beyond stco/co64"))?;
            for _ in 0..e.samples_per_chunk {
                let size = *sizes
                    .get(sample)
                    .with_context(|| format!("stsc maps more samples than stsz has ({sample})"))?;
                ensure!(
                    inside(mdats, offset, size),
                    "sample {} at bytes {offset}..{} lies outside every mdat payload",
                    sample + 1,
                    offset + size
                );
                offset += size;
                sample += 1;
            }
        }
    }
    ensure!(
        sample == sizes.len(),
        "stsc maps {sample} samples, stsz has {}",
        sizes.len()
    );
    if let Some(stss) = &stbl.stss {
        ensure!(
            stss.entries
                .iter()
                .all(|&n| n >= 1 && n as usize <= sizes.len()),
            "stss refers to a sample beyond the track"
        );
    }
    Ok(sizes.len() as u64)
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::OnceLock;

    use super::*;

    /// A 1 s, 30 fps MJPEG-in-mp4v + AAC file made by ffmpeg (a muxer written elsewhere),
    /// made once for all tests.
    fn ffmpeg_sample() -> Vec<u8> {
        static SAMPLE: OnceLock<Vec<u8>> = OnceLock::new();
        SAMPLE.get_or_init(|| ffmpeg_file("plain", &[])).clone()
    }

    /// The same, fragmented by ffmpeg (an empty init moov, a fragment per 10 frames).
    fn ffmpeg_fragmented() -> Vec<u8> {
        static SAMPLE: OnceLock<Vec<u8>> = OnceLock::new();
        SAMPLE
            .get_or_init(|| {
                ffmpeg_file(
                    "frag",
                    &["-movflags", "frag_keyframe+empty_moov", "-g", "10"],
                )
            })
            .clone()
    }

    fn ffmpeg_file(name: &str, extra: &[&str]) -> Vec<u8> {
        let path =
            std::env::temp_dir().join(format!("xtask-strict-{name}-{}.mp4", std::process::id()));
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", "1", "-c:v", "mjpeg", "-c:a", "aac"])
            .args(["-map_metadata", "-1", "-fflags", "+bitexact"])
            .args(extra)
            .arg(&path)
            .status()
            .expect("ffmpeg is required: apt-get install -y ffmpeg");
        assert!(status.success(), "ffmpeg failed: {status}");
        let data = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        data
    }

    #[test]
    fn accepts_a_fragmented_file_and_counts_fragment_samples() {
        let summary = check_bytes(&ffmpeg_fragmented()).unwrap();
        assert!(summary.fragments >= 2, "{summary}");
        assert_eq!(summary.tracks[0], ("vide".into(), "mp4v".into(), 30));
        // ftyp, the (empty) init moov, then moof/mdat pairs.
        assert_eq!(summary.top_level[..2], ["ftyp", "moov"]);
        assert!(summary.moov_before_mdat());
        assert_eq!(
            summary.top_level.iter().filter(|k| *k == "moof").count() as u64,
            summary.fragments
        );
    }

    #[test]
    fn moov_position_is_reported() {
        let plain = check_bytes(&ffmpeg_sample()).unwrap();
        // ffmpeg without +faststart writes the moov last.
        assert!(!plain.moov_before_mdat(), "{plain}");
    }

    fn find(data: &[u8], fourcc: &[u8; 4]) -> usize {
        data.windows(4).position(|w| w == fourcc).unwrap()
    }

    #[test]
    fn accepts_a_well_formed_file_and_counts_samples() {
        let summary = check_bytes(&ffmpeg_sample()).unwrap();
        assert_eq!(summary.top_level.first().map(String::as_str), Some("ftyp"));
        assert!(summary.top_level.iter().any(|k| k == "mdat"));
        assert!(summary.top_level.iter().any(|k| k == "moov"));
        assert_eq!(summary.tracks[0], ("vide".into(), "mp4v".into(), 30));
        assert_eq!(summary.tracks[1].0, "soun");
        assert_eq!(summary.tracks[1].1, "mp4a");
        // 1 s of 48 kHz AAC in 1024-sample frames (ffmpeg adds the priming frame).
        assert!((47..=49).contains(&summary.tracks[1].2), "{summary}");
    }

    #[test]
    fn rejects_a_truncated_file() {
        let data = ffmpeg_sample();
        let e = check_bytes(&data[..data.len() - 10]).unwrap_err();
        assert!(
            format!("{e:#}").starts_with("mp4-atom (strict) rejects the box at offset"),
            "{e:#}"
        );
    }

    #[test]
    fn rejects_a_chunk_offset_outside_mdat() {
        let mut data = ffmpeg_sample();
        // stco: size(4) 'stco' version/flags(4) entry_count(4) then the first offset.
        let first_offset = find(&data, b"stco") + 4 + 4 + 4;
        data[first_offset..first_offset + 4].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
        let e = format!("{:#}", check_bytes(&data).unwrap_err());
        assert!(
            e.starts_with("track 1: sample 1 at bytes 2147418112.."),
            "{e}"
        );
        assert!(e.contains("lies outside every mdat payload"), "{e}");
    }
}
