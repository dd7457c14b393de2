//! `GET /`: the web page (`assets/index.html`, with `app.js` and `app.css`), compiled
//! into the binary: nothing is fetched from anywhere else. Every asset goes out with a
//! strict [`CONTENT_SECURITY_POLICY`] (no inline script or style, media from this origin
//! or from the page's own Media Source blobs) and `X-Content-Type-Options: nosniff`.

use axum::http::{HeaderName, header};
use axum::response::{IntoResponse, Response};

/// The page.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");
/// Its script.
pub const APP_JS: &str = include_str!("../assets/app.js");
/// Its style sheet.
pub const APP_CSS: &str = include_str!("../assets/app.css");

/// What the page may load: only its own origin, plus `blob:` media for the live view's
/// Media Source; no inline code, no frames, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; media-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let headers: [(HeaderName, &'static str); 4] = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (headers, body).into_response()
}

/// `GET /`.
pub(crate) async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// `GET /app.js`.
pub(crate) async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /app.css`.
pub(crate) async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_comes_from_elsewhere() {
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("app.js", APP_JS),
            ("app.css", APP_CSS),
        ] {
            for outside in [
                "http://",
                "https://",
                "//cdn",
                "<script>",
                " style=\"",
                "@import",
            ] {
                assert!(!text.contains(outside), "{name} contains {outside:?}");
            }
        }
        // Relative, so the page works under a proxy's path prefix too.
        assert!(INDEX_HTML.contains("<script src=\"app.js\"></script>"));
        assert!(INDEX_HTML.contains("<link rel=\"stylesheet\" href=\"app.css\">"));
        assert!(!APP_JS.contains("\"/api") && !APP_JS.contains("`/api"));
        assert!(INDEX_HTML.contains("name=\"viewport\""));
    }

    #[test]
    fn the_page_uses_the_api_field_names() {
        for field in [
            "video_fps",
            "bit_rate_bps",
            "reconnects",
            "last_error",
            "since",
            "file",
        ] {
            assert!(APP_JS.contains(&format!("c.{field}")), "{field}");
        }
        for route in [
            "\"live.m3u8\"",
            "\"export.mp4\"",
            "\"recordings\"",
            "\"api/cameras\"",
        ] {
            assert!(APP_JS.contains(route), "{route}");
        }
    }
}
