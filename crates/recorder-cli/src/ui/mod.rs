//! What the user sees: the status display, logging, exit codes.
pub mod exit;
pub mod logging;
pub mod status;
