//! RTP packetization: H.264 per RFC 6184 (single NAL unit packets and FU-A), H.265 per
//! RFC 7798 (single NAL unit packets and FUs), AAC per
//! RFC 3640 (AAC-hbr, one access unit per packet), RTP headers (RFC 3550 §5.1) and RTSP
//! interleaved framing (RFC 2326 §10.12).

use bytes::Bytes;

/// Largest RTP payload written (keeps packets under a typical 1500-byte MTU).
pub(crate) const MAX_PAYLOAD: usize = 1400;

/// Where a payload sits in a fragmented NAL unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A whole NAL unit.
    Single,
    /// The first FU-A fragment.
    FuStart,
    /// A FU-A fragment that is neither first nor last.
    FuMiddle,
    /// The last FU-A fragment.
    FuEnd,
}

/// One RTP payload of a video access unit.
#[derive(Clone, Debug)]
pub(crate) struct VideoPayload {
    pub data: Bytes,
    pub marker: bool,
    pub piece: Piece,
}

/// Packetizes one access unit: NAL units up to [`MAX_PAYLOAD`] bytes as single NAL unit
/// packets, larger ones as FU-A fragments; the marker is set on the last packet.
pub(crate) fn packetize_h264(nals: &[Bytes], max_payload: usize) -> Vec<VideoPayload> {
    // FU indicator (the NAL's F and NRI bits, type 28), FU header (start, end, type).
    packetize(nals, max_payload, 1, |nal, start, end| {
        let indicator = (nal[0] & 0xE0) | 28;
        let nal_type = nal[0] & 0x1F;
        vec![indicator, fu_header(start, end, nal_type)]
    })
}

/// Packetizes one H.265 access unit as [`packetize_h264`] does H.264: NAL units up to
/// [`MAX_PAYLOAD`] bytes alone, larger ones as fragmentation units (RFC 7798 §4.4.3: a
/// payload header of type 49 carrying the NAL's layer and temporal ids, then an FU header
/// with the start and end bits and the NAL type).
pub(crate) fn packetize_h265(nals: &[Bytes], max_payload: usize) -> Vec<VideoPayload> {
    packetize(nals, max_payload, 2, |nal, start, end| {
        let nal_type = (nal[0] >> 1) & 0x3F;
        vec![
            (nal[0] & 0x81) | (49 << 1),
            nal[1],
            fu_header(start, end, nal_type),
        ]
    })
}

/// An FU header: the start and end bits, then the NAL unit's type.
fn fu_header(start: bool, end: bool, nal_type: u8) -> u8 {
    (u8::from(start) << 7) | (u8::from(end) << 6) | nal_type
}

/// NAL units up to `max_payload` bytes alone; a larger one without its `nal_header_len`
/// header bytes, in fragments each led by `fu_head(nal, start, end)`; the marker on the
/// last payload.
fn packetize(
    nals: &[Bytes],
    max_payload: usize,
    nal_header_len: usize,
    fu_head: impl Fn(&[u8], bool, bool) -> Vec<u8>,
) -> Vec<VideoPayload> {
    let mut out = Vec::new();
    for nal in nals {
        if nal.len() <= max_payload {
            out.push(VideoPayload {
                data: nal.clone(),
                marker: false,
                piece: Piece::Single,
            });
            continue;
        }
        let body = &nal[nal_header_len..];
        let chunk = max_payload - fu_head(nal, true, false).len();
        let count = body.len().div_ceil(chunk);
        for (i, part) in body.chunks(chunk).enumerate() {
            let (start, end) = (i == 0, i + 1 == count);
            let mut data = fu_head(nal, start, end);
            data.extend_from_slice(part);
            out.push(VideoPayload {
                data: Bytes::from(data),
                marker: false,
                piece: match (start, end) {
                    (true, _) => Piece::FuStart,
                    (false, true) => Piece::FuEnd,
                    (false, false) => Piece::FuMiddle,
                },
            });
        }
    }
    if let Some(last) = out.last_mut() {
        last.marker = true;
    }
    out
}

/// An RFC 3640 AAC-hbr payload holding one access unit: AU-headers-length (16 bits), then
/// one AU-header of a 13-bit size and a 3-bit index of 0.
pub(crate) fn aac_payload(frame: &[u8]) -> Bytes {
    let size = u16::try_from(frame.len()).expect("aac frame fits in 13 bits");
    assert!(size < 1 << 13, "aac frame of {size} bytes exceeds 13 bits");
    let au_header = size << 3;
    let mut data = Vec::with_capacity(frame.len() + 4);
    data.extend_from_slice(&16u16.to_be_bytes());
    data.extend_from_slice(&au_header.to_be_bytes());
    data.extend_from_slice(frame);
    Bytes::from(data)
}

/// An RTP packet (version 2, no padding, extension or CSRC).
pub(crate) fn rtp_packet(
    payload_type: u8,
    marker: bool,
    sequence_number: u16,
    timestamp: u32,
    ssrc: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push((u8::from(marker) << 7) | (payload_type & 0x7F));
    p.extend_from_slice(&sequence_number.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Frames `packet` for RTSP interleaved transport: `$`, channel, 16-bit length.
/// An RTCP sender report (RFC 3550 §6.4.1) without report blocks: the sender's wall clock
/// `ntp` (32.32 seconds since 1900) at RTP time `rtp_timestamp`.
pub(crate) fn sender_report(ssrc: u32, ntp: u64, rtp_timestamp: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(28);
    p.extend_from_slice(&[0x80, 200, 0, 6]); // V=2, no report block, PT=SR, 7 words
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&ntp.to_be_bytes());
    p.extend_from_slice(&rtp_timestamp.to_be_bytes());
    p.extend_from_slice(&[0; 8]); // sender's packet and octet counts
    p
}

pub(crate) fn interleaved(channel: u8, packet: &[u8]) -> Vec<u8> {
    let len = u16::try_from(packet.len()).expect("rtp packet fits in 64 KiB");
    let mut out = Vec::with_capacity(4 + packet.len());
    out.push(b'$');
    out.push(channel);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_nals_go_whole_and_large_ones_in_fu_a() {
        let sps = Bytes::from_static(&[0x67, 1, 2, 3]);
        // An IDR slice of 1 + 25 bytes split at 10-byte payloads: 8 body bytes per fragment.
        let idr: Vec<u8> = std::iter::once(0x65).chain(1..=25).collect();
        let payloads = packetize_h264(&[sps.clone(), Bytes::from(idr)], 10);
        let pieces: Vec<Piece> = payloads.iter().map(|p| p.piece).collect();
        assert_eq!(
            pieces,
            [
                Piece::Single,
                Piece::FuStart,
                Piece::FuMiddle,
                Piece::FuMiddle,
                Piece::FuEnd
            ]
        );
        assert_eq!(payloads[0].data, sps);
        // FU indicator keeps F and NRI (0x60) with type 28; FU header carries S/E and type 5.
        assert_eq!(&payloads[1].data[..4], &[0x7C, 0x85, 1, 2]);
        assert_eq!(&payloads[2].data[..3], &[0x7C, 0x05, 9]);
        assert_eq!(&payloads[4].data[..], &[0x7C, 0x45, 25]);
        let markers: Vec<bool> = payloads.iter().map(|p| p.marker).collect();
        assert_eq!(markers, [false, false, false, false, true]);
        // Reassembling the fragments gives the NAL back.
        let mut nal = vec![(payloads[1].data[0] & 0xE0) | (payloads[1].data[1] & 0x1F)];
        for p in &payloads[1..] {
            nal.extend_from_slice(&p.data[2..]);
        }
        assert_eq!(
            nal,
            std::iter::once(0x65).chain(1..=25).collect::<Vec<u8>>()
        );
    }

    #[test]
    fn h265_nals_go_whole_or_in_fragmentation_units() {
        // VPS (type 32: 0x40 0x01), then an IDR_N_LP slice (type 20: 0x28 0x01) of 2 + 17
        // bytes split at 10-byte payloads: 7 body bytes per unit.
        let vps = Bytes::from_static(&[0x40, 0x01, 0x0C]);
        let idr: Vec<u8> = [0x28, 0x01].into_iter().chain(1..=17).collect();
        let payloads = packetize_h265(&[vps.clone(), Bytes::from(idr.clone())], 10);
        let pieces: Vec<Piece> = payloads.iter().map(|p| p.piece).collect();
        assert_eq!(
            pieces,
            [Piece::Single, Piece::FuStart, Piece::FuMiddle, Piece::FuEnd]
        );
        assert_eq!(payloads[0].data, vps);
        // Payload header type 49 (0x62) with the NAL's layer id and TID (0x01); FU header
        // S/E and type 20.
        assert_eq!(&payloads[1].data[..4], &[0x62, 0x01, 0x80 | 20, 1]);
        assert_eq!(&payloads[2].data[..4], &[0x62, 0x01, 20, 8]);
        assert_eq!(&payloads[3].data[..], &[0x62, 0x01, 0x40 | 20, 15, 16, 17]);
        assert!(payloads[3].marker && !payloads[2].marker);
        // Reassembled: the NAL header from the FU type, then the bodies.
        let mut nal = vec![(payloads[1].data[0] & 0x81) | ((payloads[1].data[2] & 0x3F) << 1)];
        nal.push(payloads[1].data[1]);
        for p in &payloads[1..] {
            nal.extend_from_slice(&p.data[3..]);
        }
        assert_eq!(nal, idr);
    }

    #[test]
    fn aac_payload_has_one_au_header() {
        // AU-headers-length 16 bits; AU-header size 300 (0b1_0010_1100) << 3, index 0.
        let frame = vec![7u8; 300];
        let p = aac_payload(&frame);
        assert_eq!(&p[..4], &[0x00, 0x10, 0x09, 0x60]);
        assert_eq!(p.len(), 304);
    }

    #[test]
    fn rtp_header_and_interleaved_frame() {
        let packet = rtp_packet(96, true, 0xFFFF, 0x0102_0304, 0xDEAD_BEEF, &[9]);
        assert_eq!(
            packet,
            [
                0x80, 0xE0, 0xFF, 0xFF, 1, 2, 3, 4, 0xDE, 0xAD, 0xBE, 0xEF, 9
            ]
        );
        assert_eq!(interleaved(2, &[1, 2, 3]), [b'$', 2, 0, 3, 1, 2, 3]);
    }
}
