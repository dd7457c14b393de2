//! Helpers shared by the examples: MJPEG input and hand-built sample entries.

use bytes::Bytes;

/// Splits a concatenation of JPEG images at their start-of-image markers.
pub fn split_jpegs(data: &[u8]) -> Vec<&[u8]> {
    let starts: Vec<usize> = (0..data.len().saturating_sub(2))
        .filter(|&i| data[i] == 0xFF && data[i + 1] == 0xD8 && data[i + 2] == 0xFF)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &data[s..starts.get(k + 1).copied().unwrap_or(data.len())])
        .collect()
}

/// Width and height from the first start-of-frame marker (SOF0..SOF3).
pub fn jpeg_dimensions(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut i = 2;
    while i + 9 < jpeg.len() {
        if jpeg[i] != 0xFF {
            return None;
        }
        let marker = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if (0xC0..=0xC3).contains(&marker) {
            let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]);
            let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]);
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

/// Wraps `body` in a box of type `fourcc`.
pub fn boxed(fourcc: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(fourcc);
    b.extend_from_slice(body);
    b
}

/// An `esds` (ISO/IEC 14496-14 §5.6) for an object type, stream type and optional
/// decoder-specific info; descriptor lengths in the one-byte form.
pub fn esds(object_type: u8, stream_type: u8, specific: &[u8]) -> Vec<u8> {
    let mut dcd = vec![
        object_type,
        stream_type << 2 | 1,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    if !specific.is_empty() {
        dcd.extend_from_slice(&[0x05, specific.len() as u8]); // DecoderSpecificInfo
        dcd.extend_from_slice(specific);
    }
    let mut es = vec![0, 1, 0]; // ES_ID 1, flags
    es.extend_from_slice(&[0x04, dcd.len() as u8]); // DecoderConfigDescriptor
    es.extend_from_slice(&dcd);
    es.extend_from_slice(&[0x06, 1, 2]); // SLConfigDescriptor, predefined = 2 (MP4)
    let mut body = vec![0, 0, 0, 0]; // version, flags
    body.extend_from_slice(&[0x03, es.len() as u8]); // ES_Descriptor
    body.extend_from_slice(&es);
    boxed(b"esds", &body)
}

/// A `mp4v` visual sample entry declaring JPEG (objectTypeIndication 0x6C).
pub fn mp4v_jpeg_entry(width: u16, height: u16) -> Bytes {
    let mut e = vec![0; 6]; // reserved
    e.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
    e.extend_from_slice(&[0; 16]); // pre_defined, reserved, pre_defined[3]
    e.extend_from_slice(&width.to_be_bytes());
    e.extend_from_slice(&height.to_be_bytes());
    e.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // horizresolution 72 dpi
    e.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // vertresolution 72 dpi
    e.extend_from_slice(&[0; 4]); // reserved
    e.extend_from_slice(&1u16.to_be_bytes()); // frame_count
    e.extend_from_slice(&[0; 32]); // compressorname
    e.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
    e.extend_from_slice(&(-1i16).to_be_bytes()); // pre_defined
    e.extend_from_slice(&esds(0x6C, 4, &[]));
    Bytes::from(boxed(b"mp4v", &e))
}
