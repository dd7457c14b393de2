//! Reading recorded files: `verify` and `inspect`.
pub mod check;
pub mod inspect;
pub mod read;
pub mod samples;
