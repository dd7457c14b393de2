//! `/metrics`: Prometheus (OpenMetrics) text from `prometheus-client`. The recorder
//! updates the [`Metrics`] handles as things happen (files finished and failed, fragment
//! write and fsync latencies, retention); the live figures ([`Recorder`]) are read at each
//! scrape.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::source::Recorder;

pub use prometheus_client::metrics::histogram::Histogram as LatencyHistogram;

/// A camera label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CameraLabel {
    /// The camera's name.
    pub camera: String,
}

/// The labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's pattern (`/api/cameras/{name}/recordings`), `unmatched` for others.
    pub route: String,
    /// The response's status code.
    pub status: u16,
}

/// A latency histogram per camera.
pub type LatencyFamily = Family<CameraLabel, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    // 100 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.000_1, 2.0, 17))
}

/// The recorder's metrics: handles to update (cheap to clone: each is a shared counter)
/// and the registry they are encoded from.
pub struct Metrics {
    /// Files finished, per camera.
    pub files_finished: Family<CameraLabel, Counter>,
    /// Files that failed, per camera.
    pub files_failed: Family<CameraLabel, Counter>,
    /// Seconds to write one fragment (the vectored write), per camera.
    pub fragment_write: LatencyFamily,
    /// Seconds to fsync one fragment, per camera.
    pub fragment_fsync: LatencyFamily,
    /// Files deleted by retention.
    pub retention_deletions: Counter,
    /// Bytes freed by retention.
    pub retention_freed_bytes: Counter,
    /// HTTP requests by route and status.
    pub http_requests: Family<RequestLabels, Counter>,
    registry: Registry,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The metrics, with `recorder`'s live figures read at each scrape.
    pub fn new(recorder: Arc<dyn Recorder>) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("recorder");
        let m = Metrics {
            files_finished: Family::default(),
            files_failed: Family::default(),
            fragment_write: Family::new_with_constructor(latency),
            fragment_fsync: Family::new_with_constructor(latency),
            retention_deletions: Counter::default(),
            retention_freed_bytes: Counter::default(),
            http_requests: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "files_finished",
            "Files finished (finalized and renamed into place)",
            m.files_finished.clone(),
        );
        registry.register(
            "files_failed",
            "Files that could not be written or finished",
            m.files_failed.clone(),
        );
        registry.register(
            "fragment_write_seconds",
            "Time to write one fragment",
            m.fragment_write.clone(),
        );
        registry.register(
            "fragment_fsync_seconds",
            "Time to fsync one fragment",
            m.fragment_fsync.clone(),
        );
        registry.register(
            "retention_deletions",
            "Files deleted by retention",
            m.retention_deletions.clone(),
        );
        registry.register(
            "retention_freed_bytes",
            "Bytes freed by retention",
            m.retention_freed_bytes.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            m.http_requests.clone(),
        );
        registry.register_collector(Box::new(Live(recorder)));
        Arc::new(Metrics { registry, ..m })
    }

    /// The labels of `camera`.
    pub fn camera(camera: &str) -> CameraLabel {
        CameraLabel {
            camera: camera.to_owned(),
        }
    }

    /// Everything, as OpenMetrics text (which Prometheus reads).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The figures read at each scrape.
struct Live(Arc<dyn Recorder>);

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

/// Encodes one metric of `kind` with one value per label set.
fn family<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    values: impl IntoIterator<Item = (L, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in values {
        let sub = metric.encode_family(&labels)?;
        match kind {
            MetricType::Counter => ConstCounter::new(value as u64).encode(sub)?,
            _ => ConstGauge::new(value).encode(sub)?,
        }
    }
    Ok(())
}

/// Encodes one gauge without labels.
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// The states a camera can be in, as `camera_state`'s `state` label.
pub const STATES: [&str; 6] = [
    "connecting",
    "recording",
    "waiting",
    "disk_full",
    "stopped",
    "failed",
];

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let cameras = self.0.cameras();
        let per_camera = |f: fn(&crate::source::CameraLive) -> f64| {
            cameras
                .iter()
                .map(move |c| ([("camera", c.name.as_str())], f(c)))
        };
        let states = cameras.iter().flat_map(|c| {
            STATES.iter().map(move |s| {
                (
                    [("camera", c.name.as_str()), ("state", *s)],
                    f64::from(u8::from(c.state == *s)),
                )
            })
        });
        family(
            &mut encoder,
            "camera_state",
            "1 for the state each camera is in",
            MetricType::Gauge,
            states,
        )?;
        let frames = cameras.iter().flat_map(|c| {
            [
                (
                    [("camera", c.name.as_str()), ("kind", "video")],
                    c.video_frames as f64,
                ),
                (
                    [("camera", c.name.as_str()), ("kind", "audio")],
                    c.audio_frames as f64,
                ),
            ]
        });
        family(
            &mut encoder,
            "camera_frames",
            "Frames written",
            MetricType::Counter,
            frames,
        )?;
        family(
            &mut encoder,
            "camera_bytes",
            "Media bytes written",
            MetricType::Counter,
            per_camera(|c| c.bytes as f64),
        )?;
        family(
            &mut encoder,
            "camera_reconnects",
            "Reconnects",
            MetricType::Counter,
            per_camera(|c| c.reconnects as f64),
        )?;
        family(
            &mut encoder,
            "camera_packets_lost",
            "RTP packets lost",
            MetricType::Counter,
            per_camera(|c| c.packets_lost as f64),
        )?;
        let space = self.0.free_space();
        family(
            &mut encoder,
            "filesystem_available_bytes",
            "Space available on each output file system",
            MetricType::Gauge,
            space
                .iter()
                .map(|s| ([("path", s.path.as_str())], s.available_bytes as f64)),
        )?;
        family(
            &mut encoder,
            "filesystem_size_bytes",
            "Size of each output file system",
            MetricType::Gauge,
            space
                .iter()
                .map(|s| ([("path", s.path.as_str())], s.total_bytes as f64)),
        )?;
        let lag = self.0.catalog_lag();
        gauge(
            &mut encoder,
            "catalog_pending_files",
            "Finished files not yet written to the catalog",
            lag.pending_files as f64,
        )?;
        gauge(
            &mut encoder,
            "catalog_lag_seconds",
            "Age of the oldest finished file not yet in the catalog (0: none)",
            lag.oldest.map_or(0.0, |d| d.as_secs_f64()),
        )?;
        Ok(())
    }
}
