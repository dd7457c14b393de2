//! Why an export or an HLS plan cannot be built.

/// Why an export or an HLS plan cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// No source has media in the requested range (an HTTP server answers 404).
    #[error("no recorded media between {start_ns} and {end_ns}")]
    NoMedia {
        /// Start of the requested range, Unix nanoseconds.
        start_ns: i64,
        /// End of the requested range, Unix nanoseconds.
        end_ns: i64,
    },
    /// The range ends before it starts, or is empty.
    #[error("bad range: end {end_ns} is not after start {start_ns}")]
    BadRange {
        /// Start of the requested range, Unix nanoseconds.
        start_ns: i64,
        /// End of the requested range, Unix nanoseconds.
        end_ns: i64,
    },
    /// A source's tables contradict each other (a sample past a table's end, ...).
    #[error("source {index}: {reason}")]
    BadSource {
        /// Index of the source in the slice passed in.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// [`Sources::load`](crate::Sources::load) could not give a source (its file cannot
    /// be read, its `moov` cannot be parsed, ...).
    #[error("source {index} cannot be read: {reason}")]
    Unreadable {
        /// Index of the source.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A sample's duration, time or count does not fit the output's fields.
    #[error("{what} does not fit the output")]
    TooLarge {
        /// What overflowed.
        what: String,
    },
    /// An HLS segment or init index past the plan's.
    #[error("no {what} number {index} (the plan has {count})")]
    NoSuchIndex {
        /// `segment` or `init`.
        what: &'static str,
        /// The index asked for.
        index: usize,
        /// How many there are.
        count: usize,
    },
}
