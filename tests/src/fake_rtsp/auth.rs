//! Server side of HTTP Basic (RFC 7617) and Digest (RFC 2617, MD5, with or without
//! `qop=auth`) authentication, as RTSP uses them.

use base64::Engine as _;
use md5::{Digest as _, Md5};

/// Realm announced in challenges.
pub(crate) const REALM: &str = "fake-rtsp";

/// Nonce announced in Digest challenges (fixed: these servers live for one test).
pub(crate) const NONCE: &str = "0a4f113b8c6d2e7f";

/// Which scheme a server asks for, and the one pair of credentials it accepts. Its `Debug`
/// output leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `WWW-Authenticate: Basic`.
    Basic {
        /// The accepted user name.
        username: String,
        /// The accepted password.
        password: String,
    },
    /// `WWW-Authenticate: Digest` (MD5).
    Digest {
        /// The accepted user name.
        username: String,
        /// The accepted password.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, username) = match self {
            Auth::Basic { username, .. } => ("Basic", username),
            Auth::Digest { username, .. } => ("Digest", username),
        };
        f.debug_struct(scheme)
            .field("username", username)
            .field("password", &"***")
            .finish()
    }
}

impl Auth {
    /// Basic authentication accepting `username`/`password`.
    pub fn basic(username: &str, password: &str) -> Self {
        Auth::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }

    /// Digest authentication accepting `username`/`password`.
    pub fn digest(username: &str, password: &str) -> Self {
        Auth::Digest {
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }

    /// The `WWW-Authenticate` header value of a 401 answer.
    pub(crate) fn challenge(&self) -> String {
        match self {
            Auth::Basic { .. } => format!("Basic realm=\"{REALM}\""),
            Auth::Digest { .. } => format!("Digest realm=\"{REALM}\", nonce=\"{NONCE}\""),
        }
    }

    /// Whether the request's `Authorization` header value (if any) carries the accepted
    /// credentials for `method`.
    pub(crate) fn accepts(&self, method: &str, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        match self {
            Auth::Basic { username, password } => {
                let Some(encoded) = value.strip_prefix("Basic ") else {
                    return false;
                };
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .is_ok_and(|d| d == format!("{username}:{password}").as_bytes())
            }
            Auth::Digest { username, password } => {
                let Some(params) = value.strip_prefix("Digest ") else {
                    return false;
                };
                let params = parse_params(params);
                let get = |k: &str| {
                    params
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v.as_str())
                };
                let (Some(user), Some(realm), Some(nonce), Some(uri), Some(response)) = (
                    get("username"),
                    get("realm"),
                    get("nonce"),
                    get("uri"),
                    get("response"),
                ) else {
                    return false;
                };
                if user != username || realm != REALM || nonce != NONCE {
                    return false;
                }
                let ha1 = md5_hex(&format!("{username}:{REALM}:{password}"));
                let ha2 = md5_hex(&format!("{method}:{uri}"));
                let expected = match (get("qop"), get("nc"), get("cnonce")) {
                    (Some(qop), Some(nc), Some(cnonce)) => {
                        md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
                    }
                    _ => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
                };
                response.eq_ignore_ascii_case(&expected)
            }
        }
    }
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Splits `k1="v1", k2=v2` into pairs (quotes removed; no escapes expected).
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            value = quoted[..end].to_owned();
            rest = quoted.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((key, value));
        rest = rest.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_accepts_only_the_right_pair() {
        let auth = Auth::basic("user", "pw");
        // base64("user:pw") = "dXNlcjpwdw=="
        assert!(auth.accepts("DESCRIBE", Some("Basic dXNlcjpwdw==")));
        assert!(!auth.accepts("DESCRIBE", Some("Basic dXNlcjpwWA==")));
        assert!(!auth.accepts("DESCRIBE", None));
        assert_eq!(auth.challenge(), "Basic realm=\"fake-rtsp\"");
        assert_eq!(
            format!("{auth:?}"),
            "Basic { username: \"user\", password: \"***\" }"
        );
    }

    #[test]
    fn digest_checks_the_rfc_2617_response() {
        // RFC 2617 §3.5's example: user Mufasa, password "Circle Of Life", realm
        // testrealm@host.com; recomputed here with this server's realm and nonce.
        let auth = Auth::digest("Mufasa", "Circle Of Life");
        let ha1 = md5_hex("Mufasa:fake-rtsp:Circle Of Life");
        let ha2 = md5_hex("DESCRIBE:rtsp://127.0.0.1/x");
        let response = md5_hex(&format!("{ha1}:{NONCE}:{ha2}"));
        let header = format!(
            "Digest username=\"Mufasa\", realm=\"fake-rtsp\", nonce=\"{NONCE}\", \
             uri=\"rtsp://127.0.0.1/x\", response=\"{response}\""
        );
        assert!(auth.accepts("DESCRIBE", Some(&header)));
        assert!(!auth.accepts("SETUP", Some(&header)));
        assert!(!Auth::digest("Mufasa", "other").accepts("DESCRIBE", Some(&header)));
        // The MD5 itself: RFC 1321's test suite.
        assert_eq!(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn params_with_and_without_quotes() {
        assert_eq!(
            parse_params("a=\"x, y\", b=2,c=\"\""),
            vec![
                ("a".to_owned(), "x, y".to_owned()),
                ("b".to_owned(), "2".to_owned()),
                ("c".to_owned(), String::new())
            ]
        );
    }
}
