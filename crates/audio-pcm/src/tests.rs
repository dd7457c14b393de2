use super::*;

/// A test signal: a sweep through every µ-law/A-law code and a ramp for L16.
fn signal(input: Input, frames: usize, channels: usize) -> Vec<u8> {
    let n = frames * channels;
    match input {
        Input::Mulaw | Input::Alaw => (0..n).map(|i| (i * 7 % 256) as u8).collect(),
        Input::S16Be => (0..n)
            .flat_map(|i| ((i as i32 * 977 % 65536 - 32768) as i16).to_be_bytes())
            .collect(),
    }
}

/// Decodes the FLAC frames of `samples` with claxon (a FLAC stream: `fLaC`, the
/// `STREAMINFO` of the sample entry's `dfLa`, the frames).
fn decode_flac(entry: &[u8], samples: &[Sample]) -> Vec<i16> {
    let mut stream = b"fLaC".to_vec();
    // Sample entry header 8, AudioSampleEntry 28, dfLa header 12: metadata from 48.
    stream.extend_from_slice(&entry[48..]);
    for s in samples {
        stream.extend_from_slice(&s.data);
    }
    let mut reader = claxon::FlacReader::new(std::io::Cursor::new(stream)).unwrap();
    reader
        .samples()
        .map(|s| s.unwrap() as i16)
        .collect::<Vec<_>>()
}

fn run(c: &mut Converter, packets: &[(i64, &[u8])]) -> Vec<Sample> {
    let mut out = Vec::new();
    for &(pts, data) in packets {
        c.push(pts, data).unwrap();
        out.extend(std::iter::from_fn(|| c.poll()));
    }
    c.flush().unwrap();
    out.extend(std::iter::from_fn(|| c.poll()));
    out
}

#[test]
fn flac_decodes_to_the_expanded_input() {
    for (input, rate, channels) in [
        (Input::Mulaw, 8_000, 1),
        (Input::Alaw, 8_000, 2),
        (Input::S16Be, 16_000, 1),
        (Input::S16Be, 48_000, 2),
    ] {
        let mut c = Converter::new(input, rate, channels, Storage::Flac).unwrap();
        let frame_bytes = input.bytes_per_sample() * usize::from(channels);
        // 1 s in 20 ms packets, then 7 ms more: the last sample is cut short.
        let raw = signal(
            input,
            rate as usize + rate as usize * 7 / 1000,
            channels.into(),
        );
        let packet = rate as usize / 50 * frame_bytes;
        let packets: Vec<(i64, &[u8])> = raw
            .chunks(packet)
            .enumerate()
            .map(|(i, p)| ((i * packet / frame_bytes) as i64, p))
            .collect();
        let samples = run(&mut c, &packets);
        assert_eq!(samples.len(), 26, "{input:?}");
        assert!(samples[..25].iter().all(|s| s.duration == rate / 25));
        assert_eq!(samples[25].duration, rate * 7 / 1000);
        for w in samples.windows(2) {
            assert_eq!(w[1].pts, w[0].pts + i64::from(w[0].duration));
        }
        assert_eq!(
            decode_flac(&c.sample_entry(), &samples),
            decode(input, &raw),
            "{input:?}"
        );
    }
}

#[test]
fn a_gap_cuts_the_sample_short() {
    let mut c = Converter::new(Input::Mulaw, 8_000, 1, Storage::AsReceived).unwrap();
    let a = [0x11; 160];
    let b = [0x22; 160];
    // The second packet is lost (pts 160..320): the first sample holds 160 samples.
    let samples = run(&mut c, &[(0, &a), (320, &b), (480, &b)]);
    let got: Vec<_> = samples.iter().map(|s| (s.pts, s.duration)).collect();
    assert_eq!(got, [(0, 160), (320, 320)]);
    assert_eq!(samples[0].data.as_ref(), &a);
    assert_eq!(&samples[1].data[..160], &b);
    assert_eq!(&c.sample_entry()[4..8], b"ulaw");
}

#[test]
fn ipcm_is_big_endian_16_bit() {
    let mut c = Converter::new(Input::Alaw, 8_000, 1, Storage::Ipcm).unwrap();
    let samples = run(&mut c, &[(100, &[0xD5, 0x55, 0xAA])]);
    assert_eq!(samples.len(), 1);
    assert_eq!((samples[0].pts, samples[0].duration), (100, 3));
    // 8, -8, 32256
    assert_eq!(
        samples[0].data.as_ref(),
        &[0x00, 0x08, 0xFF, 0xF8, 0x7E, 0x00]
    );
    assert_eq!(&c.sample_entry()[4..8], b"ipcm");
    let l16 = Converter::new(Input::S16Be, 16_000, 2, Storage::AsReceived).unwrap();
    assert_eq!(&l16.sample_entry()[4..8], b"ipcm");
}

#[test]
fn bad_input_is_an_error() {
    assert!(matches!(
        Converter::new(Input::Mulaw, 96_000, 1, Storage::Flac),
        Err(Error::Unsupported { .. })
    ));
    assert!(Converter::new(Input::Mulaw, 8_000, 3, Storage::Flac).is_err());
    let mut c = Converter::new(Input::S16Be, 8_000, 2, Storage::Flac).unwrap();
    assert_eq!(
        c.push(0, &[0; 6]),
        Err(Error::Length {
            len: 6,
            frame_bytes: 4
        })
    );
}
