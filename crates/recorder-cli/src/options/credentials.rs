//! Credentials: the user name and password from the options, a password file, an
//! environment variable and the URL, in that order.

use std::path::Path;

use anyhow::{Context, bail};

/// Where the password may come from, in order of precedence (highest first).
#[derive(Debug, Default)]
pub struct PasswordSources {
    /// The contents of `--password-file`.
    pub file: Option<String>,
    /// `RECORDER_PASSWORD`.
    pub env: Option<String>,
}

impl PasswordSources {
    /// Reads the password file (if given; one trailing newline is ignored) and the
    /// environment variable `env_var` (if given and set).
    pub fn read(file: Option<&Path>, env_var: Option<&str>) -> anyhow::Result<Self> {
        let file = match file {
            Some(path) => Some(read_password_file(path)?),
            None => None,
        };
        let env = match env_var.map(std::env::var) {
            Some(Ok(v)) => Some(v),
            None | Some(Err(std::env::VarError::NotPresent)) => None,
            Some(Err(std::env::VarError::NotUnicode(_))) => {
                bail!("{} is not valid UTF-8", env_var.unwrap_or_default())
            }
        };
        Ok(Self { file, env })
    }
}

/// A password file's contents without one trailing newline.
pub fn read_password_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read password file {}", path.display()))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(text.to_owned())
}

/// The credentials to use: user name from `--username` else the URL; password from the
/// file, else the environment, else the URL. `None` when there is no user name and no
/// password anywhere.
pub fn resolve_credentials(
    url: &str,
    username: Option<&str>,
    passwords: &PasswordSources,
) -> anyhow::Result<Option<rtsp_ingest::Credentials>> {
    let (_, from_url) = rtsp_ingest::split_credentials(url)?;
    let username = username
        .map(str::to_owned)
        .or_else(|| from_url.as_ref().map(|c| c.username().to_owned()))
        .filter(|u| !u.is_empty());
    let password = passwords
        .file
        .clone()
        .or_else(|| passwords.env.clone())
        .or_else(|| from_url.as_ref().map(|c| c.password().to_owned()));
    match (username, password) {
        (Some(user), password) => Ok(Some(rtsp_ingest::Credentials::new(
            user,
            password.unwrap_or_default(),
        ))),
        (None, Some(p)) if !p.is_empty() => {
            bail!("a password was given but no user name: use --username or rtsp://user@host/...")
        }
        (None, _) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(file: Option<&str>, env: Option<&str>) -> PasswordSources {
        PasswordSources {
            file: file.map(str::to_owned),
            env: env.map(str::to_owned),
        }
    }

    fn resolved(url: &str, user: Option<&str>, p: &PasswordSources) -> Option<(String, String)> {
        resolve_credentials(url, user, p)
            .expect("resolvable")
            .map(|c| (c.username().to_owned(), c.password().to_owned()))
    }

    #[test]
    fn password_precedence_file_env_url() {
        let url = "rtsp://admin:fromurl@cam/live";
        let pair = |u: &str, p: &str| Some((u.to_owned(), p.to_owned()));
        assert_eq!(
            resolved(url, None, &sources(None, None)),
            pair("admin", "fromurl")
        );
        assert_eq!(
            resolved(url, None, &sources(None, Some("fromenv"))),
            pair("admin", "fromenv")
        );
        assert_eq!(
            resolved(url, None, &sources(Some("fromfile"), Some("fromenv"))),
            pair("admin", "fromfile")
        );
        assert_eq!(
            resolved(url, Some("operator"), &sources(None, None)),
            pair("operator", "fromurl")
        );
        assert_eq!(
            resolved("rtsp://cam/live", Some("op"), &sources(None, Some("e"))),
            pair("op", "e")
        );
        assert_eq!(
            resolved("rtsp://cam/live", None, &sources(None, None)),
            None
        );
        assert_eq!(
            resolved("rtsp://cam/live", Some("op"), &sources(None, None)),
            pair("op", "")
        );
    }

    #[test]
    fn password_without_user_is_an_error() {
        let err = resolve_credentials("rtsp://cam/live", None, &sources(None, Some("secret")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no user name"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn password_file_trailing_newline_is_stripped() {
        let dir = std::env::temp_dir().join(format!("recorder-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("pw");
        std::fs::write(&path, "s3cret\r\n").expect("write");
        let p = PasswordSources::read(Some(&path), None).expect("readable");
        assert_eq!(p.file.as_deref(), Some("s3cret"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
