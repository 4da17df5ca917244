//! The static files under the assets folder, served by tower-http's `ServeDir`: `ETag` and
//! `If-None-Match`, `Last-Modified`, and the gzip or brotli variant made at build time when
//! `Accept-Encoding` allows; long cache lifetimes only for content-hashed names.

use crate::response::{text, Body};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::path::Path;
use tower_http::services::ServeDir;

/// `Cache-Control` for a content-hashed file name: its content never changes.
const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` for everything else: keep it, but ask (`If-None-Match`) before using it.
const CACHE_REVALIDATE: &str = "no-cache";

/// The static files under the assets folder.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    dir: ServeDir,
}

impl StaticFiles {
    /// Serves `dir` (index.html at `/`), with the `.gz` and `.br` variants beside each file.
    pub fn new(dir: &Path) -> std::io::Result<StaticFiles> {
        if !dir.join("index.html").is_file() {
            return Err(std::io::Error::other(format!(
                "{} has no index.html",
                dir.display()
            )));
        }
        let dir = ServeDir::new(dir).precompressed_gzip().precompressed_br();
        Ok(StaticFiles { dir })
    }

    /// Answers a GET or HEAD of a file (405 for other methods, 404 for hidden or missing files).
    pub async fn serve(&self, request: Request<Incoming>) -> Response<Body> {
        let hidden = request
            .uri()
            .path()
            .split('/')
            .any(|segment| segment.starts_with('.'));
        if hidden {
            return text(StatusCode::NOT_FOUND, "no such file");
        }
        let immutable = is_content_hashed(request.uri().path());
        let mut dir = self.dir.clone();
        match dir.try_call(request).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                if parts.status == StatusCode::NOT_FOUND {
                    return text(StatusCode::NOT_FOUND, "no such file");
                }
                let policy = if immutable {
                    CACHE_IMMUTABLE
                } else {
                    CACHE_REVALIDATE
                };
                parts
                    .headers
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
                Response::from_parts(parts, body.boxed_unsync())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                text(StatusCode::NOT_FOUND, "no such file")
            }
            Err(e) => {
                tracing::warn!("static file: {e}");
                text(StatusCode::INTERNAL_SERVER_ERROR, "could not read the file")
            }
        }
    }
}

/// Whether a path names a file whose name carries its content's hash (a dot-separated part of 16 or
/// more hex digits, as the build names the bundle: `skirmish_client.1f2e3d4c5b6a7988.js`).
pub fn is_content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    name.split('.')
        .any(|part| part.len() >= 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_content_hashed_names_are_immutable() {
        assert!(is_content_hashed(
            "/pkg/skirmish_client_bg.0123456789abcdef.wasm"
        ));
        assert!(is_content_hashed(
            "/pkg/skirmish_client.0123456789ABCDEF01.js"
        ));
        assert!(!is_content_hashed("/pkg/skirmish_client.js"));
        assert!(!is_content_hashed("/index.html"));
        assert!(
            !is_content_hashed("/0123456789abcdef0/index.html"),
            "a folder's name"
        );
        assert!(!is_content_hashed("/pkg/a.0123456789abcde.js"), "15 digits");
    }
}
