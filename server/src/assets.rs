//! The static files under the assets folder, served by tower-http's `ServeDir`: `ETag` and
//! `If-None-Match`, `Last-Modified`, and the gzip or brotli variant made at build time when
//! `Accept-Encoding` allows; long cache lifetimes only for content-hashed names.

use crate::response::{text, Body};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::path::{Path, PathBuf};
use tower_http::services::ServeDir;

/// `Cache-Control` for a content-hashed file name: its content never changes.
const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` for everything else: keep it, but ask (`If-None-Match`) before using it.
const CACHE_REVALIDATE: &str = "no-cache";

/// The static files under the assets folder.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    dir: ServeDir,
    root: PathBuf,
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
        let root = dir.to_path_buf();
        let dir = ServeDir::new(dir).precompressed_gzip().precompressed_br();
        Ok(StaticFiles { dir, root })
    }

    /// Whether a request path may be served: no segment (once percent-decoded, as `ServeDir` will
    /// read it) is hidden (`.git`, `.env`) or leaves the folder, and no folder or file on the way
    /// is a symbolic link (which could point anywhere on the machine).
    async fn servable(&self, path: &str) -> bool {
        let Some(decoded) = percent_decode(path) else {
            return false;
        };
        let mut on_disk = self.root.clone();
        for segment in decoded.split('/').filter(|s| !s.is_empty()) {
            if segment.starts_with('.') || segment.contains('\\') {
                return false;
            }
            on_disk.push(segment);
            match tokio::fs::symlink_metadata(&on_disk).await {
                Ok(meta) if meta.file_type().is_symlink() => return false,
                Ok(_) => {}
                // A missing file is ServeDir's 404 to give (or a precompressed variant's).
                Err(_) => return true,
            }
        }
        true
    }

    /// Answers a GET or HEAD of a file (405 for other methods, 404 for hidden or missing files).
    pub async fn serve(&self, request: Request<Incoming>) -> Response<Body> {
        if !self.servable(request.uri().path()).await {
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
            // Missing, a path through a file, a name too long: all "no such file" to the client,
            // and not worth a log line a request.
            Err(e) => {
                tracing::debug!("static file: {e}");
                text(StatusCode::NOT_FOUND, "no such file")
            }
        }
    }
}

/// `path` with its `%XX` escapes decoded; `None` if an escape is malformed or the result is not
/// UTF-8.
pub fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
    fn escapes_are_decoded_before_paths_are_judged() {
        assert_eq!(
            percent_decode("/%2egit/config").as_deref(),
            Some("/.git/config")
        );
        assert_eq!(percent_decode("/a%2Fb").as_deref(), Some("/a/b"));
        assert_eq!(percent_decode("/plain").as_deref(), Some("/plain"));
        assert_eq!(percent_decode("/bad%2"), None);
        assert_eq!(percent_decode("/bad%zz"), None);
        assert_eq!(percent_decode("/%ff"), None, "not UTF-8");
    }

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
