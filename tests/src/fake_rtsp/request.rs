//! Reading RTSP requests off a connection's buffer (RFC 2326 §6), skipping the interleaved
//! data a client may send in between.

use std::io;

/// A parsed request.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) method: String,
    pub(super) url: String,
    pub(super) headers: Vec<(String, String)>,
}

impl Request {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Takes one request off the front of `buf` (skipping interleaved data the client may send),
/// or `None` when more bytes are needed. Malformed requests are an error.
pub(super) fn take_request(buf: &mut Vec<u8>) -> io::Result<Option<Request>> {
    loop {
        if buf.first() == Some(&b'$') {
            if buf.len() < 4 {
                return Ok(None);
            }
            let len = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if buf.len() < len {
                return Ok(None);
            }
            buf.drain(..len);
            continue;
        }
        break;
    }
    let Some(head_len) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default();
    let mut parts = start.split(' ');
    let (Some(method), Some(url), Some("RTSP/1.0")) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(io::Error::other(format!("bad request line {start:?}")));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body_len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        .map_or(Ok(0), |(_, v)| v.parse::<usize>())
        .map_err(|_| io::Error::other("bad content-length"))?;
    let total = head_len + 4 + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    buf.drain(..total);
    Ok(Some(Request {
        method: method.to_owned(),
        url: url.to_owned(),
        headers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_bodies_and_interleaved_data_skipped() {
        let mut buf = b"$\x01\x00\x02ab".to_vec();
        buf.extend_from_slice(
            b"GET_PARAMETER rtsp://h/x RTSP/1.0\r\nCSeq: 7\r\nContent-Length: 3\r\n\r\nabc",
        );
        buf.extend_from_slice(b"TEARDOWN rtsp://h/x RTSP/1.0\r\nCSeq: 8\r\n");
        let req = take_request(&mut buf).expect("valid").expect("complete");
        assert_eq!(
            (req.method.as_str(), req.url.as_str()),
            ("GET_PARAMETER", "rtsp://h/x")
        );
        assert_eq!(req.header("cseq"), Some("7"));
        assert!(take_request(&mut buf).expect("valid").is_none());
        buf.extend_from_slice(b"\r\n");
        let req = take_request(&mut buf).expect("valid").expect("complete");
        assert_eq!(req.method, "TEARDOWN");
        assert!(buf.is_empty());
    }
}
