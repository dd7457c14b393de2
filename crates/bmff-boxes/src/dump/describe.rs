//! One line of fields per known box type.

use std::fmt::Write as _;

use crate::dump::DumpOptions;
use crate::read::{AUDIO_ENTRIES, Boxes, Cursor, RawBox, ReadError, VISUAL_ENTRIES, fourcc_str};

/// Renders the first `opts.max_entries` of `count` entries, read by `each`.
fn list(
    rd: &mut Cursor<'_>,
    count: u32,
    entry_len: usize,
    opts: DumpOptions,
    mut each: impl FnMut(&mut Cursor<'_>) -> Result<String, ReadError>,
) -> Result<String, ReadError> {
    rd.table(count, entry_len)?;
    let shown = (count as usize).min(opts.max_entries);
    let mut s = String::from("[");
    for i in 0..shown {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&each(rd)?);
    }
    if count as usize > shown {
        if shown > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "... +{} more", count as usize - shown);
    }
    s.push(']');
    Ok(s)
}

/// 16.16 or 8.8 fixed point as a short decimal.
fn fixed(v: i64, frac_bits: u32) -> String {
    let f = v as f64 / f64::from(1u32 << frac_bits);
    format!("{f}")
}

const CONTAINERS: &[&[u8; 4]] = &[
    b"moov", b"trak", b"edts", b"mdia", b"minf", b"dinf", b"stbl", b"mvex", b"moof", b"traf",
    b"udta", b"mfra",
];

pub(crate) type Described<'a> = (String, Option<Boxes<'a>>);

pub(crate) fn describe<'a>(b: &RawBox<'a>, opts: DumpOptions) -> Result<Described<'a>, ReadError> {
    let mut s = String::new();
    let mut rd = Cursor::new(b);
    let rd = &mut rd;
    let fourcc = &b.fourcc;
    if CONTAINERS.contains(&fourcc) {
        return Ok((s, Some(b.children())));
    }
    if VISUAL_ENTRIES.contains(&fourcc) {
        rd.skip(6)?; // reserved
        let dri = rd.u16()?;
        rd.skip(16)?; // pre_defined, reserved, pre_defined[3]
        let (w, h) = (rd.u16()?, rd.u16()?);
        rd.skip(46)?; // resolutions 8, reserved 4, frame_count 2, compressorname 32
        let depth = rd.u16()?;
        rd.skip(2)?; // pre_defined
        let _ = write!(
            s,
            "data_reference_index={dri} width={w} height={h} depth={depth}"
        );
        return Ok((s, Some(b.children_after(rd.pos))));
    }
    if AUDIO_ENTRIES.contains(&fourcc) {
        rd.skip(6)?; // reserved
        let dri = rd.u16()?;
        rd.skip(8)?; // reserved
        let (channels, sample_size) = (rd.u16()?, rd.u16()?);
        rd.skip(4)?; // pre_defined, reserved
        let rate = rd.u32()?;
        let _ = write!(
            s,
            "data_reference_index={dri} channels={channels} sample_size={sample_size} sample_rate={}",
            fixed(i64::from(rate), 16)
        );
        return Ok((s, Some(b.children_after(rd.pos))));
    }
    match fourcc {
        b"ftyp" => {
            let major = rd.arr::<4>()?;
            let minor = rd.u32()?;
            let mut compat = Vec::new();
            while rd.pos + 4 <= b.payload.len() {
                compat.push(fourcc_str(&rd.arr()?));
            }
            let _ = write!(
                s,
                "major={} minor={minor} compatible=[{}]",
                fourcc_str(&major),
                compat.join(",")
            );
        }
        b"mvhd" => {
            let (v, _) = rd.full()?;
            let (_ctime, _mtime) = (rd.uv(v)?, rd.uv(v)?);
            let timescale = rd.u32()?;
            let duration = rd.uv(v)?;
            rd.skip(4 + 2 + 10 + 36 + 24)?;
            let next = rd.u32()?;
            let _ = write!(
                s,
                "v{v} timescale={timescale} duration={duration} next_track_id={next}"
            );
        }
        b"tkhd" => {
            let (v, flags) = rd.full()?;
            let (_ctime, _mtime) = (rd.uv(v)?, rd.uv(v)?);
            let track_id = rd.u32()?;
            rd.skip(4)?;
            let duration = rd.uv(v)?;
            rd.skip(8)?;
            let (layer, group, volume) = (rd.i16()?, rd.i16()?, rd.i16()?);
            rd.skip(2 + 36)?;
            let (w, h) = (rd.u32()?, rd.u32()?);
            let _ = write!(
                s,
                "v{v} flags={flags:#x} track_id={track_id} duration={duration} layer={layer} \
                 alternate_group={group} volume={} width={} height={}",
                fixed(i64::from(volume), 8),
                fixed(i64::from(w), 16),
                fixed(i64::from(h), 16)
            );
        }
        b"elst" => {
            let (v, _) = rd.full()?;
            let n = rd.u32()?;
            let entry_len = if v == 1 { 20 } else { 12 };
            let l = list(rd, n, entry_len, opts, |rd| {
                let dur = rd.uv(v)?;
                let time = if v == 1 {
                    rd.i64()?
                } else {
                    i64::from(rd.i32()?)
                };
                let (ri, rf) = (rd.i16()?, rd.i16()?);
                Ok(if time == -1 {
                    format!("empty dur={dur}")
                } else {
                    format!(
                        "dur={dur} media_time={time} rate={}",
                        fixed(i64::from(ri) << 16 | i64::from(rf as u16), 16)
                    )
                })
            })?;
            let _ = write!(s, "v{v} entries={n} {l}");
        }
        b"mdhd" => {
            let (v, _) = rd.full()?;
            let (_ctime, _mtime) = (rd.uv(v)?, rd.uv(v)?);
            let timescale = rd.u32()?;
            let duration = rd.uv(v)?;
            let lang = rd.u16()?;
            let letters: String = [10u32, 5, 0]
                .iter()
                .map(|sh| char::from(((lang >> sh) & 0x1f) as u8 + 0x60))
                .collect();
            let _ = write!(
                s,
                "v{v} timescale={timescale} duration={duration} language={letters}"
            );
        }
        b"hdlr" => {
            rd.full()?;
            rd.skip(4)?;
            let handler = rd.arr::<4>()?;
            rd.skip(12)?;
            let name = &b.payload[rd.pos..];
            let name = name.split(|&c| c == 0).next().unwrap_or_default();
            let _ = write!(
                s,
                "handler={} name={:?}",
                fourcc_str(&handler),
                String::from_utf8_lossy(name)
            );
        }
        b"vmhd" => {
            let (_, flags) = rd.full()?;
            let mode = rd.u16()?;
            let _ = write!(s, "flags={flags:#x} graphicsmode={mode}");
        }
        b"smhd" => {
            rd.full()?;
            let balance = rd.i16()?;
            let _ = write!(s, "balance={}", fixed(i64::from(balance), 8));
        }
        b"dref" | b"stsd" => {
            rd.full()?;
            let n = rd.u32()?;
            let _ = write!(s, "entries={n}");
            return Ok((s, Some(b.children_after(rd.pos))));
        }
        b"url " => {
            let (_, flags) = rd.full()?;
            let _ = write!(s, "flags={flags:#x}");
            if flags & 1 == 0 {
                let loc = &b.payload[rd.pos..];
                let loc = loc.split(|&c| c == 0).next().unwrap_or_default();
                let _ = write!(s, " location={:?}", String::from_utf8_lossy(loc));
            }
        }
        b"avcC" => {
            let _version = rd.u8()?;
            let (profile, compat, level) = (rd.u8()?, rd.u8()?, rd.u8()?);
            let _ = write!(
                s,
                "profile={profile} compatibility={compat:#04x} level={level}"
            );
        }
        b"esds" => {
            rd.full()?;
            if let Some(oti) = esds_object_type(&b.payload[rd.pos..]) {
                let _ = write!(s, "object_type_indication={oti:#04x}");
            }
        }
        b"stts" => {
            rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 8, opts, |rd| {
                Ok(format!("{}x{}", rd.u32()?, rd.u32()?))
            })?;
            let _ = write!(s, "entries={n} {l}");
        }
        b"ctts" => {
            let (v, _) = rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 8, opts, |rd| {
                let count = rd.u32()?;
                let off = if v == 1 {
                    i64::from(rd.i32()?)
                } else {
                    i64::from(rd.u32()?)
                };
                Ok(format!("{count}x{off}"))
            })?;
            let _ = write!(s, "v{v} entries={n} {l}");
        }
        b"stss" | b"stco" => {
            rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 4, opts, |rd| Ok(rd.u32()?.to_string()))?;
            let _ = write!(s, "entries={n} {l}");
        }
        b"co64" => {
            rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 8, opts, |rd| Ok(rd.u64()?.to_string()))?;
            let _ = write!(s, "entries={n} {l}");
        }
        b"stsc" => {
            rd.full()?;
            let n = rd.u32()?;
            let l = list(rd, n, 12, opts, |rd| {
                let (first, per, sdi) = (rd.u32()?, rd.u32()?, rd.u32()?);
                Ok(format!("first_chunk={first} n={per} sdi={sdi}"))
            })?;
            let _ = write!(s, "entries={n} {l}");
        }
        b"stsz" => {
            rd.full()?;
            let (size, count) = (rd.u32()?, rd.u32()?);
            let _ = write!(s, "sample_size={size} count={count}");
            if size == 0 {
                let l = list(rd, count, 4, opts, |rd| Ok(rd.u32()?.to_string()))?;
                let _ = write!(s, " {l}");
            }
        }
        b"sgpd" => {
            let (v, _) = rd.full()?;
            let grouping = rd.arr::<4>()?;
            let default_length = if v == 1 { rd.u32()? } else { 0 };
            if v >= 2 {
                rd.u32()?; // default_sample_description_index
            }
            let n = rd.u32()?;
            let _ = write!(
                s,
                "v{v} grouping_type={} default_length={default_length} entries={n}",
                fourcc_str(&grouping)
            );
        }
        b"sbgp" => {
            let (v, _) = rd.full()?;
            let grouping = rd.arr::<4>()?;
            if v == 1 {
                rd.u32()?; // grouping_type_parameter
            }
            let n = rd.u32()?;
            let l = list(rd, n, 8, opts, |rd| {
                Ok(format!("{}x{}", rd.u32()?, rd.u32()?))
            })?;
            let _ = write!(s, "grouping_type={} entries={n} {l}", fourcc_str(&grouping));
        }
        b"trex" => {
            rd.full()?;
            let (id, sdi, dur, size, flags) =
                (rd.u32()?, rd.u32()?, rd.u32()?, rd.u32()?, rd.u32()?);
            let _ = write!(
                s,
                "track_id={id} sdi={sdi} default_duration={dur} default_size={size} \
                 default_flags={flags:#x}"
            );
        }
        b"mfhd" => {
            rd.full()?;
            let _ = write!(s, "sequence_number={}", rd.u32()?);
        }
        b"tfhd" => {
            let (_, flags) = rd.full()?;
            let _ = write!(s, "flags={flags:#x} track_id={}", rd.u32()?);
            if flags & 0x1 != 0 {
                let _ = write!(s, " base_data_offset={}", rd.u64()?);
            }
            for (bit, name) in [
                (0x2, "sdi"),
                (0x8, "default_duration"),
                (0x10, "default_size"),
            ] {
                if flags & bit != 0 {
                    let _ = write!(s, " {name}={}", rd.u32()?);
                }
            }
            if flags & 0x20 != 0 {
                let _ = write!(s, " default_flags={:#x}", rd.u32()?);
            }
        }
        b"prft" => {
            let (v, flags) = rd.full()?;
            let track = rd.u32()?;
            let ntp = rd.u64()?;
            let _ = write!(
                s,
                "v{v} flags={flags:#x} reference_track_ID={track} ntp={ntp:#x} unix_ns={} \
                 media_time={}",
                crate::Prft::unix_nanos_from_ntp(ntp),
                rd.uv(v)?
            );
        }
        b"tfdt" => {
            let (v, _) = rd.full()?;
            let _ = write!(s, "v{v} base_media_decode_time={}", rd.uv(v)?);
        }
        b"trun" => {
            let t = crate::read::parse_trun(b)?;
            let _ = write!(
                s,
                "v{} flags={:#x} samples={}",
                t.version,
                t.flags,
                t.samples.len()
            );
            if let Some(o) = t.data_offset {
                let _ = write!(s, " data_offset={o}");
            }
            if let Some(f) = t.first_sample_flags {
                let _ = write!(s, " first_sample_flags={f:#x}");
            }
            if t.flags & 0xf00 != 0 {
                let _ = write!(s, " {}", trun_samples(&t, opts));
            }
        }
        _ => {}
    }
    Ok((s, None))
}

/// Finds `objectTypeIndication` in an `esds` payload (after version/flags): ES_Descriptor
/// (tag 3) holding a DecoderConfigDescriptor (tag 4), ISO/IEC 14496-1 §7.2.6. Lenient:
/// anything unexpected yields `None`.
fn esds_object_type(p: &[u8]) -> Option<u8> {
    fn descriptor(p: &[u8]) -> Option<(u8, &[u8])> {
        let tag = *p.first()?;
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *p.get(i)?;
            len = len << 7 | usize::from(b & 0x7f);
            i += 1;
            if b & 0x80 == 0 || i > 4 {
                break;
            }
        }
        Some((tag, p.get(i..i + len)?))
    }
    let (tag, es) = descriptor(p)?;
    if tag != 3 {
        return None;
    }
    let flags = *es.get(2)?;
    let mut i = 3;
    if flags & 0x80 != 0 {
        i += 2; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        i += 1 + usize::from(*es.get(i)?); // URL
    }
    if flags & 0x20 != 0 {
        i += 2; // OCR_ES_Id
    }
    let (tag, dc) = descriptor(es.get(i..)?)?;
    if tag != 4 {
        return None;
    }
    dc.first().copied()
}

/// The first `opts.max_entries` samples of a `trun`, each as its present fields.
fn trun_samples(t: &crate::read::Trun, opts: DumpOptions) -> String {
    let shown = t.samples.len().min(opts.max_entries);
    let mut parts: Vec<String> = t.samples[..shown]
        .iter()
        .map(|e| {
            let mut p = Vec::new();
            if let Some(d) = e.duration {
                p.push(format!("d={d}"));
            }
            if let Some(v) = e.size {
                p.push(format!("s={v}"));
            }
            if let Some(f) = e.flags {
                p.push(format!("f={f:#x}"));
            }
            if let Some(c) = e.composition_offset {
                p.push(format!("c={c}"));
            }
            p.join(" ")
        })
        .collect();
    if t.samples.len() > shown {
        parts.push(format!("... +{} more", t.samples.len() - shown));
    }
    format!("[{}]", parts.join(", "))
}
