//! A small HTTP/1.1 client on hyper: one request per connection, over any stream (plain TCP to the
//! Agones SDK sidecar, mutual TLS to the Agones allocator). Bodies are JSON and bounded.

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Largest response body read, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Sends one request over `stream` (connected to `host`) and returns the status and body. `body`,
/// when given, is sent as `application/json`. The caller bounds the time.
pub async fn send<S>(
    stream: S,
    host: &str,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<(StatusCode, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut request = Request::builder()
        .method(&method)
        .uri(path)
        .header(header::HOST, host)
        .header(header::ACCEPT, "application/json");
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let exchange = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| format!("{method} {path}: reading the answer: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    // The connection is driven here, beside the exchange, so that a caller's timeout drops both:
    // nothing is left running against a peer that never answers.
    tokio::pin!(exchange, connection);
    tokio::select! {
        result = &mut exchange => result,
        ended = &mut connection => match ended {
            // Closed after answering: the answer is in hand, or the exchange says what is missing.
            Ok(()) => exchange.await,
            Err(e) => Err(format!("{method} {path}: {e}")),
        },
    }
}

/// The first line of `body` as text, shortened, for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_timed_out_request_leaves_nothing_connected() {
        // A peer that takes the request and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("addr");
        let peer = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accepts");
            let mut sink = vec![0u8; 4096];
            // Reads the request, then waits for the client to go: 0 bytes is the close.
            loop {
                match socket.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let call = send(stream, "peer", Method::GET, "/", None);
        let answer = tokio::time::timeout(Duration::from_millis(200), call).await;
        assert!(answer.is_err(), "the peer never answers");
        // The caller gave up: the connection must close. (Driven in a task of its own, as it
        // once was, it closed too: hyper ends a connection whose caller has gone.)
        tokio::time::timeout(Duration::from_secs(5), peer)
            .await
            .expect("the connection was closed when the caller gave up")
            .expect("the peer task ran");
    }
}
