//! https and wss with --tls-cert/--tls-key, against a certificate made in the test.

mod support;

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use skirmish_server::{Args, ServerConfig};
use skirmish_shared::codec::{decode_server, encode_client};
use skirmish_shared::protocol::{ClientMsg, Hello, ServerMsg, PROTOCOL_VERSION};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use support::{bounded, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::Message;

/// A self-signed certificate for `localhost` in a fresh folder: (cert.pem, key.pem, DER).
fn certificate(name: &str) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("a certificate");
    let dir = std::env::temp_dir().join(format!("skirmish-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    (cert, key, certified.cert.der().clone())
}

/// A TLS connection to the server that trusts only `root`.
async fn connect(
    server: &TestServer,
    root: &CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("a root");
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connects");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("a name"), tcp)
        .await
        .expect("the TLS handshake succeeds")
}

#[tokio::test]
async fn https_and_wss_are_served_with_the_given_certificate() {
    bounded(async {
        let (cert, key, der) = certificate("serve");
        let server = TestServer::start(&[
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ])
        .await;

        let mut https = connect(&server, &der).await;
        https
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        let mut response = Vec::new();
        let _ = https.read_to_end(&mut response).await;
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 200") && response.ends_with("ok\n"),
            "{response}"
        );

        let tls = connect(&server, &der).await;
        let url = format!("wss://localhost:{}/ws", server.addr.port());
        let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
            .await
            .expect("the WebSocket upgrade over TLS");
        let hello = ClientMsg::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            name: "Secure".into(),
            resume_token: None,
            rate: 0,
            room: None,
            watch: false,
        });
        ws.send(Message::Binary(encode_client(&hello).into()))
            .await
            .expect("sent");
        let welcome = loop {
            match ws.next().await.expect("a message").expect("readable") {
                Message::Binary(bytes) => break decode_server(&bytes).expect("decodes"),
                _ => continue,
            }
        };
        assert!(matches!(welcome, ServerMsg::Welcome(_)), "{welcome:?}");

        // Plain HTTP on the TLS port is not served: the connection ends, quickly, without a page.
        let mut plain = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connects");
        plain
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut answer))
            .await
            .expect("the server ends the connection");
        let _ = read;
        assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
        server.stop().await;
    })
    .await;
}

#[test]
fn tls_settings_are_checked_at_start() {
    let (cert, _key, _) = certificate("check");
    let cert = cert.to_str().expect("utf-8");
    let only_cert = Args::parse_from(["skirmish-server", "--tls-cert", cert]);
    let err = ServerConfig::from_args(&only_cert).expect_err("--tls-cert needs --tls-key");
    assert!(
        err.to_string().starts_with("--tls-cert: needs --tls-key"),
        "{err}"
    );
    let args = Args::parse_from([
        "skirmish-server",
        "--tls-cert",
        cert,
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    let err = ServerConfig::from_args(&args).expect_err("no key file");
    assert!(
        err.to_string().starts_with("--tls-cert:")
            && err.to_string().contains("/nonexistent/key.pem"),
        "{err}"
    );
    // A certificate is not a key.
    let args = Args::parse_from(["skirmish-server", "--tls-cert", cert, "--tls-key", cert]);
    assert!(ServerConfig::from_args(&args).is_err());
}
