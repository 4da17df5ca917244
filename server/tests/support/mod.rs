//! Starting and stopping a real server on 127.0.0.1:0 for integration tests.
#![allow(dead_code)]

pub mod agones_standin;
pub mod raw;

use clap::Parser;
use skirmish_server::metrics::Metrics;
use skirmish_server::{Args, Server, ServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The longest any integration test may run.
pub const TEST_DEADLINE: Duration = Duration::from_secs(60);

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin listener, with `--admin-bind`.
    pub admin: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with the given extra flags on 127.0.0.1:0 (with `--fill-bots 0` unless the
    /// flags set it).
    pub async fn start(flags: &[&str]) -> TestServer {
        TestServer::start_on("127.0.0.1:0", flags).await
    }

    /// Starts a server bound to `bind` (a loopback address, port 0) with the given extra flags.
    pub async fn start_on(bind: &str, flags: &[&str]) -> TestServer {
        TestServer::start_tweaked(bind, flags, |_| {}).await
    }

    /// Like [`TestServer::start_on`], with settings no flag reaches changed by `tweak`.
    pub async fn start_tweaked(
        bind: &str,
        flags: &[&str],
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let mut argv = vec!["skirmish-server", "--bind", bind];
        // No fill bots unless a test asks for them: the other tests count the players they see.
        if !flags.iter().any(|f| f.starts_with("--fill-bots")) {
            argv.extend_from_slice(&["--fill-bots", "0"]);
        }
        // No replays unless a test asks for them: they would land in the crate's folder.
        if !flags.iter().any(|f| f.starts_with("--replay-dir")) {
            argv.extend_from_slice(&["--replay-dir", ""]);
        }
        argv.extend_from_slice(flags);
        let mut config =
            ServerConfig::from_args(&Args::parse_from(argv)).expect("valid test config");
        tweak(&mut config);
        let server = Server::bind(config).await.expect("bind 127.0.0.1:0");
        let addr = server.local_addr().expect("bound");
        let admin = server.admin_addr();
        let metrics = server.metrics();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            admin,
            metrics,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The game socket URL.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A player that has joined, named `name`.
    pub async fn join(&self, name: &str) -> skirmish_server::client::GameClient {
        skirmish_server::client::GameClient::connect(&self.ws_url(), name)
            .await
            .expect("joins")
    }

    /// A plain HTTP GET of `path`; the whole response, head and body.
    pub async fn get(&self, path: &str) -> String {
        self.request("GET", path, &[], "").await
    }

    /// An HTTP request with extra header lines and a body; the whole response, head and body.
    pub async fn request(&self, method: &str, path: &str, headers: &[&str], body: &str) -> String {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.push_str(body);
        exchange(self.addr, &request).await
    }

    /// Stops the server and waits for its accept loop to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("the server stops within 5 s")
                .expect("the server task did not panic");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Sends `request`, a whole HTTP/1.1 request written as sent (with `Connection: close`), to `addr`;
/// returns the whole response, head and body.
pub async fn exchange(addr: impl tokio::net::ToSocketAddrs, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response).await;
    response
}

/// The status code (0 without a status line) and the body of a whole HTTP/1.1 response.
pub fn status_and_body(response: &str) -> (u16, &str) {
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body)
}

/// A map file in a fresh temporary folder; returns its path.
pub fn write_map(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("skirmish-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.map"));
    std::fs::write(&path, text).expect("write map");
    path
}

/// How often [`wait_until`] checks its condition.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Checks `condition` every few milliseconds until it holds; fails the test, naming `what`, if it
/// still does not hold after `within`. Wait on this, never on a sleep that should be long enough.
/// Its clock is tokio's, so it also works in tests with paused time.
pub async fn wait_until(within: Duration, what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A raw WebSocket that has said `Hello` as `name` and read nothing since: a player that does not
/// read, with a receive buffer of `receive_buffer` bytes if given (the OS's otherwise).
pub async fn silent_player(
    server: &TestServer,
    name: &str,
    receive_buffer: Option<u32>,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    silent_client(server, name, None, receive_buffer).await
}

/// Like [`silent_player`], for a spectator of the room whose code is `room`.
pub async fn silent_spectator(
    server: &TestServer,
    room: &str,
    receive_buffer: Option<u32>,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    silent_client(server, "spectator", Some(room), receive_buffer).await
}

async fn silent_client(
    server: &TestServer,
    name: &str,
    watch: Option<&str>,
    receive_buffer: Option<u32>,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use futures_util::SinkExt;
    use skirmish_shared::codec::encode_client;
    use skirmish_shared::protocol::{ClientMsg, Hello, PROTOCOL_VERSION};
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Some(bytes) = receive_buffer {
        socket.set_recv_buffer_size(bytes).expect("rcvbuf");
    }
    let stream = socket.connect(server.addr).await.expect("connect");
    let (mut ws, _) = tokio_tungstenite::client_async(server.ws_url(), stream)
        .await
        .expect("upgrade");
    let hello = ClientMsg::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        name: name.into(),
        resume_token: None,
        rate: 0,
        room: watch.map(str::to_string),
        watch: watch.is_some(),
    });
    ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        encode_client(&hello).into(),
    ))
    .await
    .expect("hello");
    ws
}

/// Runs a test body under [`TEST_DEADLINE`].
pub async fn bounded<F: std::future::Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_DEADLINE, body)
        .await
        .expect("the test finished within its deadline");
}

/// Reads snapshots until the server closes the connection; returns the notices they carried and the
/// close code.
pub async fn notices_until_close(
    client: &mut skirmish_server::client::GameClient,
) -> (Vec<String>, Option<u16>) {
    use skirmish_server::client::ClientError;
    use skirmish_shared::protocol::GameEvent;
    loop {
        match client.next_snapshot().await {
            Ok(_) => continue,
            Err(ClientError::Closed(frame)) => {
                let notices = client
                    .events()
                    .drain(..)
                    .filter_map(|e| match e {
                        GameEvent::Notice(text) => Some(text),
                        _ => None,
                    })
                    .collect();
                return (notices, frame.map(|f| u16::from(f.code)));
            }
            Err(e) => panic!("expected a close, got {e}"),
        }
    }
}

/// Reads messages until the server closes the connection; returns the close code (`None` if it
/// closed without a close frame).
pub async fn close_code_of(client: &mut skirmish_server::client::GameClient) -> Option<u16> {
    use skirmish_server::client::ClientError;
    loop {
        match client.next_message().await {
            Ok(_) => continue,
            Err(ClientError::Closed(frame)) => return frame.map(|f| u16::from(f.code)),
            Err(e) => panic!("expected a close, got {e}"),
        }
    }
}

/// A child process killed (and reaped) when dropped, so no test leaves a server behind.
pub struct Killed(pub std::process::Child);

impl Killed {
    /// Waits for the process to exit, failing the test if it takes longer than `within`.
    pub async fn exit_status(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.0.try_wait().expect("exit status") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the process did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `binary` with `args` (its log on stderr), and returns it with the address from its
/// "listening on http://ADDR/" line. Its stderr keeps being drained so it never blocks on a pipe.
pub fn spawn_logged(binary: &str, args: &[&str]) -> (Killed, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Killed(
        std::process::Command::new(binary)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let stderr = child.0.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("{binary} exited before logging its address"))
            .expect("readable");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split('/').next().expect("address").to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (child, addr)
}
