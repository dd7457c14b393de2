//! `verify`'s data check: every sample's bytes, read in file order in pieces of at most
//! [`mp4_track::DATA_READ_BYTES`], checked with [`bmff_boxes::sample_check`] (the checks
//! `repair` makes before it keeps a fragment), so that data a power cut never wrote is
//! reported with its track, sample number and byte offset.

use anyhow::{Context, bail};
use bmff_boxes::read::Track;
use bmff_boxes::sample_check::{BLOCK_BYTES, SampleDefect, SampleFormat, ZeroBlocks, check_sample};
use mp4_track::{DATA_READ_BYTES, MAX_CHECKED_SAMPLE_BYTES};

use crate::mp4::read::Mp4File;

/// One sample to check.
#[derive(Clone, Copy, Debug)]
pub struct SampleRef {
    /// Its track.
    pub track_id: u32,
    /// 1-based number in its track.
    pub number: u32,
    /// The structure of its sample entry's samples.
    pub format: SampleFormat,
    /// File offset.
    pub offset: u64,
    /// Length.
    pub size: u32,
    /// Offset of the `moof` that describes it, in a fragmented file.
    pub moof: Option<u64>,
}

/// What the data check read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataChecked {
    /// Samples checked.
    pub samples: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// The format of each sample entry of a track.
pub fn formats(t: &Track) -> Vec<SampleFormat> {
    t.sample_entries
        .iter()
        .map(|e| SampleFormat::of_entry(&e.bytes))
        .collect()
}

/// The samples of a progressive track, from its sample table (already checked to be
/// consistent: chunks, `stsc` and `stsz` agree).
pub fn progressive(t: &Track) -> Vec<SampleRef> {
    let s = &t.stbl;
    let formats = formats(t);
    let per_chunk = s
        .samples_per_chunk(s.chunk_offsets.len())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(s.sample_count() as usize);
    for (c, (&chunk, &k)) in s.chunk_offsets.iter().zip(&per_chunk).enumerate() {
        // The last stsc entry that starts at or before this chunk (1-based).
        let sdi = s
            .stsc
            .iter()
            .rfind(|e| e.first_chunk as usize <= c + 1)
            .map_or(1, |e| e.sample_description_index);
        let format = formats
            .get((sdi as usize).wrapping_sub(1))
            .copied()
            .unwrap_or(SampleFormat::Other);
        let mut offset = chunk;
        for _ in 0..k {
            let size = s.size(out.len());
            out.push(SampleRef {
                track_id: t.track_id(),
                number: out.len() as u32 + 1,
                format,
                offset,
                size,
                moof: None,
            });
            offset += u64::from(size);
        }
    }
    out
}

/// Reads and checks `samples`; the error names the first damaged one.
pub fn check(file: &Mp4File, mut samples: Vec<SampleRef>) -> anyhow::Result<DataChecked> {
    samples.sort_by_key(|s| s.offset);
    let mut zeros = ZeroBlocks::new(file.len);
    let mut done = DataChecked::default();
    let mut buf = Vec::new();
    let mut next = 0;
    while next < samples.len() {
        let first = samples[next];
        if first.size > MAX_CHECKED_SAMPLE_BYTES {
            next += 1;
            continue;
        }
        let mut end = first.offset + u64::from(first.size);
        let mut last = next + 1;
        while let Some(c) = samples.get(last)
            && c.offset == end
            && c.size <= MAX_CHECKED_SAMPLE_BYTES
            && end + u64::from(c.size) - first.offset <= DATA_READ_BYTES
        {
            end += u64::from(c.size);
            last += 1;
        }
        buf.resize((end - first.offset) as usize, 0);
        file.read_at(first.offset, &mut buf)
            .with_context(|| format!("cannot read the sample data at byte {}", first.offset))?;
        let chunk = &samples[next..last];
        let mut found = chunk.iter().find_map(|s| {
            let from = (s.offset - first.offset) as usize;
            check_sample(s.format, &buf[from..from + s.size as usize])
                .err()
                .map(|e| (*s, e))
        });
        if let Some(block) = zeros.feed_samples(
            first.offset,
            &buf,
            chunk.iter().map(|s| (s.offset, s.size, s.format)),
        ) && found
            .as_ref()
            .is_none_or(|(s, e)| block as i64 <= s.offset as i64 + e.at())
        {
            let s = samples[..last]
                .iter()
                .rfind(|s| s.offset <= block)
                .unwrap_or(&chunk[0]);
            let defect = SampleDefect::ZeroBlock {
                at: block as i64 - s.offset as i64,
                len: BLOCK_BYTES.min(file.len - block),
            };
            found = Some((*s, defect));
        }
        if let Some((s, defect)) = found {
            let codec = match s.format {
                SampleFormat::LengthPrefixed { .. } => "video NAL units",
                SampleFormat::Aac => "AAC",
                SampleFormat::Jpeg => "JPEG",
                SampleFormat::Flac => "FLAC",
                SampleFormat::Pcm => "PCM",
                SampleFormat::Other => "data",
            };
            bail!(
                "track {} sample {} ({codec}, {} bytes at byte {}{}) is damaged at byte {}: \
                 {defect}",
                s.track_id,
                s.number,
                s.size,
                s.offset,
                s.moof
                    .map(|m| format!(", in the fragment whose moof is at byte {m}"))
                    .unwrap_or_default(),
                s.offset as i64 + defect.at(),
            );
        }
        done.samples += (last - next) as u64;
        done.bytes += buf.len() as u64;
        next = last;
    }
    Ok(done)
}
