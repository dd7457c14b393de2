//! `[http]` of the run configuration: where to listen, who may connect, how many exports
//! at once. One definition, deserialized by the recorder's config loader.

use std::net::SocketAddr;

use serde::Deserialize;

/// The default `listen`: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The default `max_exports`.
pub const DEFAULT_MAX_EXPORTS: usize = 4;

/// The `[http]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on (default `127.0.0.1:8080`). Anything but a loopback
    /// address needs `users`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Who may connect (HTTP Basic); empty: anyone who can reach `listen`.
    #[serde(default)]
    pub users: Vec<User>,
    /// Exports served at once; more get 503 (default 4).
    #[serde(default = "default_max_exports")]
    pub max_exports: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            users: Vec::new(),
            max_exports: DEFAULT_MAX_EXPORTS,
        }
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().expect("a valid address")
}

fn default_max_exports() -> usize {
    DEFAULT_MAX_EXPORTS
}

/// A user of `[http] users`: `{ name = "...", password_hash = "$argon2id$..." }`.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user name (no `:`, as HTTP Basic splits at the first one).
    pub name: String,
    /// The password's Argon2 hash as a PHC string (`recorder hash-password` prints one).
    pub password_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password_hash", &"***")
            .finish()
    }
}

impl Config {
    /// Checks the table as a whole: every user's name and hash, a positive
    /// `max_exports`, and that a non-loopback `listen` has users. The error is one line
    /// saying what to change.
    pub fn check(&self) -> Result<(), String> {
        for (i, user) in self.users.iter().enumerate() {
            if user.name.is_empty()
                || user.name.contains(':')
                || user.name.chars().any(char::is_control)
            {
                return Err(format!(
                    "[http] users #{}: invalid name {:?}: non-empty, no ':' or control characters",
                    i + 1,
                    user.name
                ));
            }
            if self.users[..i].iter().any(|u| u.name == user.name) {
                return Err(format!("[http] users: duplicate name {:?}", user.name));
            }
            crate::auth::parse_hash(&user.password_hash).map_err(|e| {
                format!(
                    "[http] users {:?}: password_hash: {e} (make one with `recorder hash-password`)",
                    user.name
                )
            })?;
        }
        if self.max_exports == 0 {
            return Err("[http] max_exports: must be at least 1".to_owned());
        }
        if !self.listen.ip().is_loopback() && self.users.is_empty() {
            return Err(format!(
                "[http] listen = \"{}\" is not a loopback address and no user is configured: \
                 add [http] users = [{{ name = \"...\", password_hash = \"...\" }}] (hashes from \
                 `recorder hash-password`), or listen on 127.0.0.1",
                self.listen
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> User {
        User {
            name: name.to_owned(),
            password_hash: crate::auth::hash_password("secret").unwrap(),
        }
    }

    #[test]
    fn defaults_and_keys() {
        let c: Config = toml_like(r#"{"users": []}"#);
        assert_eq!(c, Config::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.check().is_ok());
        let err = serde_json::from_str::<Config>(r#"{"listen": "127.0.0.1:1", "port": 2}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `port`"), "{err}");
    }

    fn toml_like(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn anything_but_loopback_needs_users() {
        for addr in ["0.0.0.0:8080", "192.168.1.2:80", "[::]:8080"] {
            let mut c = Config {
                listen: addr.parse().unwrap(),
                ..Config::default()
            };
            let err = c.check().unwrap_err();
            assert!(err.contains(addr) && err.contains("[http] users"), "{err}");
            assert!(!err.contains('\n'));
            c.users.push(user("ana"));
            assert_eq!(c.check(), Ok(()));
        }
        let v6 = Config {
            listen: "[::1]:8080".parse().unwrap(),
            ..Config::default()
        };
        assert_eq!(v6.check(), Ok(()));
    }

    #[test]
    fn bad_users_are_refused() {
        let mut c = Config::default();
        c.users.push(User {
            name: "ana".to_owned(),
            password_hash: "plain".to_owned(),
        });
        assert!(c.check().unwrap_err().contains("password_hash"));
        c.users = vec![user("a:b")];
        assert!(c.check().unwrap_err().contains("invalid name"));
        c.users = vec![user("ana"), user("ana")];
        assert!(c.check().unwrap_err().contains("duplicate"));
        let shown = format!("{:?}", user("ana"));
        assert!(!shown.contains("argon2"), "{shown}");
    }
}
