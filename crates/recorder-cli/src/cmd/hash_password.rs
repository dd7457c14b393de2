//! `recorder hash-password`: reads a password from standard input (its first line) and
//! prints its Argon2id hash as a PHC string, for `[http] users`.

use std::io::BufRead;

use crate::ui::exit::Usage;

/// Reads the password and prints the hash.
pub fn run() -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(Usage("hash-password: no password on standard input".to_owned()).into());
    }
    let hash = http_api::auth::hash_password(password)
        .map_err(|e| anyhow::anyhow!("hash-password: {e}"))?;
    #[allow(clippy::print_stdout)]
    {
        println!("{hash}");
    }
    Ok(())
}
