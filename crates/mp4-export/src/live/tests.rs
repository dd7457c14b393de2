use super::*;

const SEC: u64 = 1_000_000_000;
/// 2026-11-30T12:00:00Z in Unix nanoseconds.
const NOON: i64 = 1_796_040_000 * 1_000_000_000;

fn boxed(fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(fourcc);
    b.extend_from_slice(payload);
    b
}

/// An init as the recorder writes it: ftyp, a reserved free box, moov (`tag` inside).
fn init(tag: u8) -> Vec<u8> {
    let mut v = boxed(b"ftyp", b"isom\0\0\0\0");
    v.extend(boxed(b"free", &[0; 100]));
    v.extend(boxed(b"moov", &[tag; 4]));
    v
}

fn fragment(tag: u8, duration_ns: u64) -> LiveFragment {
    LiveFragment {
        data: vec![Bytes::from(vec![tag; 3]), Bytes::from(vec![tag; 2])],
        duration_ns,
    }
}

fn bytes_of(body: &Body) -> Vec<u8> {
    body.parts()
        .iter()
        .flat_map(|p| match p {
            crate::Part::Bytes(b) => b.to_vec(),
            crate::Part::Source { .. } => panic!("a live segment refers to a file"),
        })
        .collect()
}

fn playlist(live: &Live) -> String {
    live.playlist(|i| format!("init/{i}.mp4"), |s| format!("seg/{s}.m4s"))
}

#[test]
fn the_init_loses_its_reserved_room_and_keeps_ftyp_and_moov() {
    let mut live = Live::new(3);
    live.open(&init(7), NOON).unwrap();
    let mut want = boxed(b"ftyp", b"isom\0\0\0\0");
    want.extend(boxed(b"moov", &[7; 4]));
    assert_eq!(live.init(0).unwrap().to_vec(), want);
    assert_eq!(live.init(1), None);
}

#[test]
fn a_largesize_box_is_read_and_bad_inits_are_refused() {
    let mut big = boxed(b"ftyp", b"isom");
    // free with a 64-bit size of 24.
    big.extend_from_slice(&1u32.to_be_bytes());
    big.extend_from_slice(b"free");
    big.extend_from_slice(&24u64.to_be_bytes());
    big.extend_from_slice(&[0; 8]);
    big.extend(boxed(b"moov", b"x"));
    assert_eq!(strip_free(&big).unwrap().len(), 12 + 9);
    assert_eq!(
        strip_free(&boxed(b"ftyp", b"isom")),
        Err(LiveError::NotInit("no moov"))
    );
    let mut torn = init(1);
    torn.truncate(torn.len() - 2);
    assert_eq!(
        strip_free(&torn),
        Err(LiveError::NotInit("a box size past the end"))
    );
    assert_eq!(
        strip_free(&[0, 0, 0]),
        Err(LiveError::NotInit("a truncated box header"))
    );
    let mut live = Live::new(3);
    assert!(live.open(b"garbage!", NOON).is_err());
}

#[test]
fn the_ring_keeps_the_last_fragments_with_their_wall_clock_starts() {
    let mut live = Live::new(3);
    live.open(&init(1), NOON).unwrap();
    live.watch(0, 10);
    for i in 0..5u8 {
        live.push(fragment(i, SEC + 500_000_000), 5);
    }
    assert_eq!(live.len(), 3);
    assert_eq!(live.segment(1), None);
    assert_eq!(bytes_of(&live.segment(4).unwrap()), vec![4; 5]);
    assert_eq!(
        playlist(&live),
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:2\n\
         #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-MAP:URI=\"init/0.mp4\"\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:03.000Z\n#EXTINF:1.500,\nseg/2.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:04.500Z\n#EXTINF:1.500,\nseg/3.m4s\n\
         #EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:06.000Z\n#EXTINF:1.500,\nseg/4.m4s\n"
    );
}

#[test]
fn a_new_file_is_a_discontinuity_with_its_own_map_and_old_inits_stay_while_used() {
    let mut live = Live::new(4);
    live.watch(0, 100);
    live.open(&init(1), NOON).unwrap();
    live.push(fragment(1, SEC), 1);
    live.push(fragment(2, SEC), 2);
    live.close();
    live.open(&init(2), NOON + 5 * SEC as i64).unwrap();
    live.push(fragment(3, SEC), 3);
    live.push(fragment(4, SEC), 4);
    let text = playlist(&live);
    assert!(
        text.ends_with(
            "#EXT-X-MAP:URI=\"init/0.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:00.000Z\n#EXTINF:1.000,\nseg/0.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:01.000Z\n#EXTINF:1.000,\nseg/1.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init/1.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:05.000Z\n#EXTINF:1.000,\nseg/2.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-30T12:00:06.000Z\n#EXTINF:1.000,\nseg/3.m4s\n"
        ),
        "{text}"
    );
    assert!(live.init(0).unwrap().ends_with(&[1; 4]));
    assert!(live.init(1).unwrap().ends_with(&[2; 4]));
    // The first file's segments leave: its init goes, and the discontinuity that left
    // is counted.
    for i in 5..8u8 {
        live.push(fragment(i, SEC), 5);
    }
    assert_eq!(live.init(0), None);
    let text = playlist(&live);
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
}

#[test]
fn nothing_is_kept_unwatched_but_sequence_numbers_go_on() {
    let mut live = Live::new(3);
    live.open(&init(1), NOON).unwrap();
    live.push(fragment(0, SEC), 0);
    live.push(fragment(1, SEC), 0);
    assert!(live.is_empty());
    assert!(!live.is_watched(0));
    live.watch(10, 30);
    assert!(live.is_watched(40) && !live.is_watched(41));
    live.push(fragment(2, SEC), 20);
    assert_eq!(live.len(), 1);
    assert!(playlist(&live).contains("#EXT-X-MEDIA-SEQUENCE:2\n"));
    assert!(playlist(&live).contains("12:00:02.000Z"));
    // Watching lapses: what was kept goes.
    live.push(fragment(3, SEC), 41);
    assert!(live.is_empty());
    assert!(playlist(&live).contains("#EXT-X-MEDIA-SEQUENCE:4\n"));
}

#[test]
fn fragments_before_any_init_are_not_kept() {
    let mut live = Live::new(3);
    live.watch(0, 10);
    live.push(fragment(0, SEC), 0);
    assert!(live.is_empty());
}

#[test]
fn wall_clock_text_is_rfc3339_with_milliseconds() {
    assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        rfc3339_millis(NOON + 123_456_789),
        "2026-11-30T12:00:00.123Z"
    );
    assert_eq!(
        rfc3339_millis(1_709_164_800 * 1_000_000_000 + 86_399_999_000_000),
        "2024-02-29T23:59:59.999Z"
    );
    assert_eq!(rfc3339_millis(-1_000_000), "1969-12-31T23:59:59.999Z");
}
