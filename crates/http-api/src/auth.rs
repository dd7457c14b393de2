//! HTTP Basic authentication against Argon2 password hashes (PHC strings).
//!
//! Basic is used rather than bearer tokens because browsers send Basic credentials with
//! every request of a page, `<video>` sources included. The password is compared by
//! Argon2's verification of the stored hash; an unknown user name is verified against a
//! hash of its own so that it takes as long as a wrong password. A header that passed is
//! remembered (as its SHA-256) for [`VERIFIED_FOR`], so a player fetching segment after
//! segment pays one verification, not one per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use password_hash::rand_core::OsRng;
use sha2::{Digest, Sha256};

/// How long a verified `Authorization` header is taken without verifying it again.
pub const VERIFIED_FOR: Duration = Duration::from_secs(300);

/// Verified headers remembered at most (beyond, the expired ones go, then all).
const VERIFIED_MAX: usize = 256;

/// Hashes `password` with Argon2id and a random salt, as a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(password: &str) -> Result<String, password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Checks that `hash` is a PHC string of an Argon2 hash.
pub fn parse_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a PHC string ({e})"))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(format!("algorithm {} is not Argon2", parsed.algorithm));
    }
    if parsed.hash.is_none() {
        return Err("no hash".to_owned());
    }
    Ok(())
}

/// The user name and password of an `Authorization: Basic ...` header value.
pub fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

/// The configured users.
#[derive(Clone)]
pub struct Users {
    users: Vec<(String, String)>,
    /// Verified for unknown names (a hash of a random password).
    decoy: String,
    /// SHA-256 of headers that passed, and when.
    verified: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.users.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Users {
    /// The users of `[http] users` as (name, PHC hash) pairs (checked by
    /// [`Config::check`](crate::Config::check)).
    pub fn new(users: impl IntoIterator<Item = (String, String)>) -> Users {
        let users: Vec<(String, String)> = users.into_iter().collect();
        let decoy = users.first().map_or_else(String::new, |_| {
            let mut random = [0u8; 16];
            password_hash::rand_core::RngCore::fill_bytes(&mut OsRng, &mut random);
            let random = base64::engine::general_purpose::STANDARD.encode(random);
            hash_password(&random).unwrap_or_default()
        });
        Users {
            users,
            decoy,
            verified: Arc::default(),
        }
    }

    /// True when no user is configured: every request is let in.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether the `Authorization` header value `header` names a user with the right
    /// password. Slow on purpose (an Argon2 verification): call it off the async
    /// workers.
    pub fn check(&self, header: Option<&[u8]>) -> bool {
        self.check_at(header, Instant::now())
    }

    fn check_at(&self, header: Option<&[u8]>, now: Instant) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(header) = header else {
            return false;
        };
        let key: [u8; 32] = Sha256::digest(header).into();
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified
            .get(&key)
            .is_some_and(|&at| now.saturating_duration_since(at) < VERIFIED_FOR)
        {
            return true;
        }
        drop(verified);
        if !self.verify(header) {
            return false;
        }
        verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_MAX {
            verified.retain(|_, at| now.saturating_duration_since(*at) < VERIFIED_FOR);
            if verified.len() >= VERIFIED_MAX {
                verified.clear();
            }
        }
        verified.insert(key, now);
        true
    }

    /// The Argon2 verification of a header.
    fn verify(&self, header: &[u8]) -> bool {
        let Some((name, password)) = parse_basic(header) else {
            return false;
        };
        let (hash, known) = match self.users.iter().find(|(n, _)| *n == name) {
            Some((_, hash)) => (hash.as_str(), true),
            None => (self.decoy.as_str(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let verified = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        verified && known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(name: &str, password: &str) -> Vec<u8> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
        format!("Basic {token}").into_bytes()
    }

    #[test]
    fn basic_headers_are_parsed() {
        assert_eq!(
            parse_basic(b"Basic YW5hOnNlOmNyZXQ="),
            Some(("ana".to_owned(), "se:cret".to_owned()))
        );
        assert_eq!(
            parse_basic(b"basic  YW5hOnNlOmNyZXQ= "),
            Some(("ana".to_owned(), "se:cret".to_owned()))
        );
        assert_eq!(parse_basic(b"Bearer YW5hOnNlOmNyZXQ="), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        // No colon: no password.
        assert_eq!(parse_basic(b"Basic YW5h"), None);
    }

    #[test]
    fn only_the_right_password_of_a_known_user_passes() {
        let hash = hash_password("p@ss word").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert_eq!(parse_hash(&hash), Ok(()));
        let users = Users::new([("ana".to_owned(), hash)]);
        assert!(users.check(Some(&basic("ana", "p@ss word"))));
        assert!(!users.check(Some(&basic("ana", "p@ss wore"))));
        assert!(!users.check(Some(&basic("bob", "p@ss word"))));
        assert!(!users.check(None));
        assert!(!users.check(Some(b"Basic")));
        assert!(Users::new([]).check(None));
        assert!(!format!("{users:?}").contains("argon2"));
    }

    #[test]
    fn a_verified_header_is_remembered_for_a_while_and_only_it() {
        let users = Users::new([("ana".to_owned(), hash_password("right").unwrap())]);
        let t0 = Instant::now();
        let right = basic("ana", "right");
        assert!(users.check_at(Some(&right), t0));
        assert!(!users.check_at(Some(&basic("ana", "wrong")), t0));
        let cached = |at| {
            users
                .verified
                .lock()
                .unwrap()
                .get(&<[u8; 32]>::from(Sha256::digest(&right)))
                .is_some_and(|&v| at - v < VERIFIED_FOR)
        };
        assert!(cached(t0 + Duration::from_secs(299)));
        assert!(!cached(t0 + VERIFIED_FOR));
        assert_eq!(
            users.verified.lock().unwrap().len(),
            1,
            "a failure is never remembered"
        );
        // Past the time, the header is verified again (and passes again).
        assert!(users.check_at(Some(&right), t0 + VERIFIED_FOR + Duration::from_secs(1)));
        assert!(cached(t0 + VERIFIED_FOR + Duration::from_secs(2)));
    }

    #[test]
    fn hashes_are_checked() {
        assert!(parse_hash("secret").is_err());
        let scrypt = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";
        let err = parse_hash(scrypt).unwrap_err();
        assert!(err.contains("Argon2"), "{err}");
    }
}
