//! Runs of the recorder on a small file system of their own: each run goes through
//! `unshare --mount` (as root) or `unshare --user --map-root-user --mount` (unprivileged
//! user namespaces) with a shell that mounts a tmpfs in a private mount namespace, runs the
//! recorder in it and copies what it left to a normal directory; the mount disappears with
//! the namespace, even when the test fails.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::{Invocation, Run, Scratch, run};

/// The `unshare` arguments that give a private mount namespace here, or why none works.
pub fn unshare_prefix() -> Result<Vec<&'static str>, String> {
    let candidates: [&[&str]; 2] = [
        &["unshare", "--mount"],
        &["unshare", "--user", "--map-root-user", "--mount"],
    ];
    let mut tried = Vec::new();
    for c in candidates {
        let ok = Command::new(c[0])
            .args(&c[1..])
            .args(["sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(c.to_vec());
        }
        tried.push(c.join(" "));
    }
    Err(format!(
        "cannot mount a test tmpfs (tried `{}`): run the tests as root, or enable \
         unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 / \
         user.max_user_namespaces > 0)",
        tried.join("`, `")
    ))
}

/// The shell run inside the namespace: `$1` mount point, `$2` mount options, `$3` a file
/// to copy in first (or empty), `$4` where to copy what is left; then the recorder and its
/// arguments. Exits with the recorder's status.
pub const IN_NAMESPACE: &str = r#"m=$1; opts=$2; pre=$3; out=$4; shift 4
umask 022
mount -t tmpfs -o "$opts" tmpfs "$m" || exit 99
if [ -n "$pre" ]; then cp -p "$pre" "$m"/ || exit 99; mount -o remount,"$opts" "$m"; fi
"$@"; rc=$?
cp -a "$m"/. "$out"/ || exit 98
exit $rc"#;

/// Runs `recorder ARGS` with a tmpfs mounted at `mnt` (options `opts`), `pre` copied into
/// it first; what the tmpfs holds afterwards is copied to `copy`.
pub fn run_on_tmpfs(
    name: &str,
    dir: &Scratch,
    mnt: &Path,
    opts: &str,
    pre: Option<&Path>,
    copy: &Path,
    args: &[&str],
) -> Run {
    let prefix = unshare_prefix().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(mnt).expect("mount point");
    std::fs::create_dir_all(copy).expect("copy dir");
    let mut wrapper: Vec<&str> = prefix;
    let pre = pre.map_or(String::new(), |p| p.to_str().expect("utf-8").to_owned());
    wrapper.extend([
        "sh",
        "-c",
        IN_NAMESPACE,
        "sh",
        mnt.to_str().expect("utf-8"),
        opts,
        &pre,
        copy.to_str().expect("utf-8"),
    ]);
    let run = run(
        name,
        &dir.0,
        &Invocation {
            args: args.to_vec(),
            env: Vec::new(),
            sigterm_after: None,
            wrapper,
        },
    );
    assert!(
        !matches!(run.code(), Some(98 | 99)),
        "[{name}] the tmpfs wrapper failed ({:?}): {}",
        run.code(),
        run.stderr
    );
    run
}
