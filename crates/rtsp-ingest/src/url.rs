//! URL handling: credential extraction and redaction.

use crate::{Credentials, Error};

/// Returns `url` with any password replaced by `***`, for logs and error messages.
///
/// Works on the raw text (no parsing or normalisation), so it also redacts strings that are
/// not valid URLs: `rtsp://user:secret@host/path` becomes `rtsp://user:***@host/path`. A
/// URL without a password is returned unchanged.
///
/// ```
/// assert_eq!(
///     rtsp_ingest::redact_url("rtsp://admin:hunter2@10.0.0.7:554/stream1"),
///     "rtsp://admin:***@10.0.0.7:554/stream1"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_owned();
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..authority_start + colon + 1]);
    out.push_str("***");
    out.push_str(&url[authority_start + at..]);
    out
}

/// Splits the `user:password@` part off an RTSP URL.
///
/// Returns the URL without credentials and the percent-decoded credentials, if the URL had
/// a user name (the password is empty when the URL had none). Fails with
/// [`Error::InvalidUrl`] unless the URL is an `rtsp://` URL with a host.
///
/// ```
/// let (url, creds) = rtsp_ingest::split_credentials("rtsp://admin:p%40ss@cam.local/live")?;
/// assert_eq!(url, "rtsp://cam.local/live");
/// let creds = creds.unwrap();
/// assert_eq!((creds.username(), creds.password()), ("admin", "p@ss"));
/// # Ok::<(), rtsp_ingest::Error>(())
/// ```
pub fn split_credentials(raw: &str) -> Result<(String, Option<Credentials>), Error> {
    let (url, creds) = parse_and_split(raw)?;
    Ok((url.into(), creds))
}

/// Like [`split_credentials`], keeping the parsed URL (retina refuses URLs that carry
/// credentials and takes them separately).
pub(crate) fn parse_and_split(raw: &str) -> Result<(url::Url, Option<Credentials>), Error> {
    let mut url = url::Url::parse(raw).map_err(|e| Error::InvalidUrl {
        url: redact_url(raw),
        reason: e.to_string(),
    })?;
    if url.scheme() != "rtsp" {
        return Err(Error::InvalidUrl {
            url: redact_url(raw),
            reason: format!("scheme must be rtsp, not {}", url.scheme()),
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::InvalidUrl {
            url: redact_url(raw),
            reason: "missing host".to_owned(),
        });
    }
    let creds = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        Some(Credentials::new(
            percent_decode(url.username()),
            percent_decode(url.password().unwrap_or("")),
        ))
    };
    // Both setters only fail for URLs that cannot have credentials (no host), ruled out above.
    let cleared = url.set_username("").is_ok() && url.set_password(None).is_ok();
    debug_assert!(cleared);
    Ok((url, creds))
}

/// Decodes `%XX` escapes (as `url` leaves them in user names and passwords); invalid escapes
/// are kept literally, and invalid UTF-8 is replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_only() {
        assert_eq!(
            redact_url("rtsp://user:pass@host:554/a/b?c=d"),
            "rtsp://user:***@host:554/a/b?c=d"
        );
        assert_eq!(redact_url("rtsp://user@host/x"), "rtsp://user@host/x");
        assert_eq!(redact_url("rtsp://host/x"), "rtsp://host/x");
        assert_eq!(redact_url("rtsp://u:@host"), "rtsp://u:***@host");
    }

    #[test]
    fn redacts_password_containing_at_and_slashless_authority() {
        // An unescaped '@' in the password: the last '@' of the authority ends the userinfo.
        assert_eq!(redact_url("rtsp://u:p@ss@host"), "rtsp://u:***@host");
        // '@' after the path starts is not userinfo.
        assert_eq!(redact_url("rtsp://host/a@b:c"), "rtsp://host/a@b:c");
        // Not a URL at all, still redacted.
        assert_eq!(redact_url("u:secret@host"), "u:***@host");
    }

    #[test]
    fn splits_and_decodes_credentials() {
        let (url, creds) =
            parse_and_split("rtsp://ad%40min:p%3Ass%25@127.0.0.1:8554/cam?x=1").expect("valid url");
        assert_eq!(url.as_str(), "rtsp://127.0.0.1:8554/cam?x=1");
        let creds = creds.expect("credentials");
        assert_eq!(creds.username(), "ad@min");
        assert_eq!(creds.password(), "p:ss%");
    }

    #[test]
    fn no_credentials() {
        let (url, creds) = split_credentials("rtsp://cam.local/live").expect("valid url");
        assert_eq!(url, "rtsp://cam.local/live");
        assert!(creds.is_none());
    }

    #[test]
    fn user_without_password() {
        let (url, creds) = split_credentials("rtsp://viewer@cam.local/live").expect("valid url");
        assert_eq!(url, "rtsp://cam.local/live");
        let creds = creds.expect("credentials");
        assert_eq!((creds.username(), creds.password()), ("viewer", ""));
    }

    #[test]
    fn rejects_bad_urls_without_leaking_password() {
        let err = split_credentials("http://u:topsecret@host/x").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::InvalidUrl { .. }));
        assert!(!text.contains("topsecret"), "{text}");
        assert!(text.contains("http://u:***@host/x"), "{text}");
        assert!(matches!(
            split_credentials("not a url"),
            Err(Error::InvalidUrl { .. })
        ));
    }

    #[test]
    fn percent_decode_keeps_invalid_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%"), "%");
    }
}
