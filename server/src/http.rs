//! A deliberately small HTTP/1.1 layer: read one request head, then serve a static file, health,
//! metrics, or upgrade to a WebSocket. One request per connection (`Connection: close`).
//!
//! Reading the head ourselves (rather than a full HTTP stack) keeps every limit in view: the head's size
//! and read deadline are bounded, and the WebSocket handshake is checked here before any WebSocket
//! state exists. Bytes a client sends after the head are handed to the WebSocket unread.

use bytes::Bytes;
use std::collections::HashMap;
use std::path::Path;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request head accepted, in bytes.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Most headers in one request.
const MAX_HEADERS: usize = 48;

/// Largest total size of the static files loaded at start.
const MAX_ASSETS_BYTES: u64 = 64 * 1024 * 1024;

/// Why a request head could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The connection failed or closed before the head was complete.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The head is larger than [`MAX_HEAD_BYTES`].
    #[error("request head too large")]
    TooLarge,
    /// The head is not valid HTTP/1.x.
    #[error("malformed request: {0}")]
    Malformed(String),
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, for example `GET`.
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header of this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every header of this (lower-case) name, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Reads a request head. Returns it and the bytes read past its end.
pub async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Request, Vec<u8>), HttpError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HttpError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let request = Request {
                    method: parsed.method.unwrap_or_default().to_string(),
                    path: parsed
                        .path
                        .unwrap_or("/")
                        .split('?')
                        .next()
                        .unwrap_or("/")
                        .to_string(),
                    headers: parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                };
                return Ok((request, buf.split_off(len)));
            }
            Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD_BYTES => continue,
            Ok(httparse::Status::Partial) => return Err(HttpError::TooLarge),
            Err(e) => return Err(HttpError::Malformed(e.to_string())),
        }
    }
}

/// Reads a request body of the `Content-Length` the head gives (none: empty), starting with the
/// `leftover` bytes read past the head. Bodies over `limit` bytes are refused unread.
pub async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    request: &Request,
    mut leftover: Vec<u8>,
    limit: usize,
) -> Result<Vec<u8>, HttpError> {
    if request.header("transfer-encoding").is_some() {
        return Err(HttpError::Malformed(
            "chunked bodies are not accepted".into(),
        ));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(value) => value
            .trim()
            .parse::<usize>()
            .map_err(|_| HttpError::Malformed("bad Content-Length".into()))?,
    };
    if length > limit {
        return Err(HttpError::TooLarge);
    }
    if leftover.len() > length {
        return Err(HttpError::Malformed(
            "more bytes than Content-Length".into(),
        ));
    }
    let have = leftover.len();
    leftover.resize(length, 0);
    stream.read_exact(&mut leftover[have..]).await?;
    Ok(leftover)
}

/// Writes a complete response and closes the write side.
pub async fn respond<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let sent = (!head_only).then_some(body);
    write_response(stream, status, content_type, &[], body.len(), sent).await
}

/// Writes a complete response with extra headers and closes the write side.
pub async fn respond_with<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    write_response(
        stream,
        status,
        content_type,
        headers,
        body.len(),
        Some(body),
    )
    .await
}

async fn write_response<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    length: usize,
    body: Option<&[u8]>,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    if let Some(body) = body {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

/// Writes a plain-text error response.
pub async fn respond_error<S: AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
) -> std::io::Result<()> {
    respond(
        stream,
        status,
        "text/plain; charset=utf-8",
        status.as_bytes(),
        false,
    )
    .await
}

/// The content type for a file name.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "map" | "toml" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Static files loaded into memory at start, by URL path.
#[derive(Debug, Default)]
pub struct StaticFiles {
    files: HashMap<String, (&'static str, Bytes)>,
}

impl StaticFiles {
    /// Loads every file under `dir` (skipping hidden ones). `/` serves `index.html`.
    pub fn load(dir: &Path) -> std::io::Result<StaticFiles> {
        let mut files = HashMap::new();
        let mut total = 0u64;
        let mut stack = vec![dir.to_path_buf()];
        while let Some(folder) = stack.pop() {
            for entry in std::fs::read_dir(&folder)? {
                let entry = entry?;
                let path = entry.path();
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    total += entry.metadata()?.len();
                    if total > MAX_ASSETS_BYTES {
                        return Err(std::io::Error::other("assets folder exceeds 64 MiB"));
                    }
                    let relative = path.strip_prefix(dir).map_err(std::io::Error::other)?;
                    let url = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
                    let body = Bytes::from(std::fs::read(&path)?);
                    files.insert(url.clone(), (content_type(&url), body));
                }
            }
        }
        Ok(StaticFiles { files })
    }

    /// The content type and body for a URL path.
    pub fn get(&self, path: &str) -> Option<&(&'static str, Bytes)> {
        let path = if path == "/" { "/index.html" } else { path };
        self.files.get(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(
            content_type("/pkg/skirmish_client_bg.wasm"),
            "application/wasm"
        );
        assert_eq!(content_type("/index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("/x.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("/noext"), "application/octet-stream");
    }

    #[test]
    fn the_assets_folder_serves_an_index() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets");
        let files = StaticFiles::load(&dir).expect("assets load");
        let (kind, body) = files.get("/").expect("index");
        assert_eq!(*kind, "text/html; charset=utf-8");
        assert!(String::from_utf8_lossy(body).contains("<html"));
        assert!(files.get("/maps/arena.map").is_some());
        assert!(files.get("/../Cargo.toml").is_none());
    }
}
