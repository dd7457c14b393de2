//! An export holds every file of its range open: past the process's limit of open files
//! it is refused with 503 and a reason, and served again once the limit allows. A test
//! binary of its own, since it lowers the limit of its whole process.

mod support;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use support::{request, setup, start};

/// 40 files of 2 s: 08:00:00 to 08:01:20.
const RANGE: &str =
    "/api/cameras/front/export.mp4?start=2026-11-30T08:00:00Z&end=2026-11-30T08:01:20Z";

/// Open file descriptors of this process.
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

#[test]
fn an_export_past_the_open_files_limit_is_a_503() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = setup(dir.path(), 100, 40);
    let server = start(&catalog, 4);
    let addr = server.local_addr();
    // Served whole (the catalog is opened now, too).
    let r = request(addr, "HEAD", RANGE, &[]);
    assert_eq!(r.status, 200, "{}", r.head);

    // Room for the sockets and a few files, not for 40.
    let limit = getrlimit(Resource::Nofile);
    let low = open_fds() + 12;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(low),
            maximum: limit.maximum,
        },
    )
    .unwrap();
    let r = request(addr, "GET", RANGE, &[]);
    setrlimit(Resource::Nofile, limit).unwrap();
    assert_eq!(r.status, 503, "{}", r.head);
    let reason = String::from_utf8(r.body).unwrap();
    assert!(reason.contains("too many files open"), "{reason}");
    // Nothing was left open: the same export is served again.
    let r = request(addr, "HEAD", RANGE, &[]);
    assert_eq!(r.status, 200, "{}", r.head);
}
