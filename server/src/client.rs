//! A native client speaking the real protocol over a real WebSocket: used by the load-test bots and
//! the integration tests. It keeps a [`ClientView`] up to date from the snapshots it receives.

use futures_util::{SinkExt, StreamExt};
use skirmish_shared::codec::{decode_server, encode_client, CodecError};
use skirmish_shared::physics::MoveParams;
use skirmish_shared::protocol::{
    ClientMsg, GameEvent, Hello, InputFrame, RefuseReason, ResumeToken, ServerMsg, Snapshot,
    Welcome, PROTOCOL_VERSION,
};
use skirmish_shared::time::{Tick, TickRate};
use skirmish_shared::view::{ClientView, ViewError};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why the client stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket failed.
    #[error("websocket: {0}")]
    Ws(#[from] tungstenite::Error),
    /// The server sent bytes that do not decode.
    #[error("decode: {0}")]
    Codec(#[from] CodecError),
    /// A snapshot did not apply to the view.
    #[error("view: {0}")]
    View(#[from] ViewError),
    /// The view after a snapshot did not match the snapshot's check.
    #[error("the view after the snapshot at tick {0:?} does not match its check")]
    Desync(Tick),
    /// The server refused the handshake.
    #[error("refused ({reason:?}): {detail}")]
    Refused {
        /// The reason code.
        reason: RefuseReason,
        /// The explanation.
        detail: String,
    },
    /// The server closed the connection.
    #[error("closed by the server: {0:?}")]
    Closed(Option<CloseFrame>),
    /// The server sent something out of place.
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
}

/// The client's socket.
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connected, welcomed player.
pub struct GameClient {
    ws: Ws,
    welcome: Welcome,
    view: ClientView,
    next_seq: u32,
    events: Vec<GameEvent>,
    bytes_received: u64,
    /// When the client last told the server how far it has read (see [`ACK_INTERVAL`]).
    last_ack: Option<Instant>,
    /// The tick and proof of the newest snapshot read, for acknowledgements.
    newest: (u32, u8),
}

/// How often, at most, [`GameClient::next_snapshot`] acknowledges the snapshots it read (in a
/// `Ping`), as the browser client does: the server drops players whose acknowledgements stop.
pub const ACK_INTERVAL: Duration = Duration::from_millis(500);

impl GameClient {
    /// Connects to `url` (`ws://host:port/ws`), says `Hello` and waits for `Welcome`.
    pub async fn connect(url: &str, name: &str) -> Result<GameClient, ClientError> {
        GameClient::connect_resuming(url, name, None).await
    }

    /// Like [`GameClient::connect`], offering a resume token from an earlier `Welcome`.
    pub async fn connect_resuming(
        url: &str,
        name: &str,
        resume_token: Option<ResumeToken>,
    ) -> Result<GameClient, ClientError> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        GameClient::handshake(ws, hello(name, resume_token, 0, None)).await
    }

    /// Connects to `url` as a spectator of the room whose code is `room` (`None`: the room with
    /// the most players), and waits for `Welcome`. The client is then sent the room's broadcast
    /// feed: [`GameClient::next_snapshot`] applies it to a view that sees the whole room.
    pub async fn watch(url: &str, room: Option<&str>) -> Result<GameClient, ClientError> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        let hello = Hello {
            watch: true,
            ..hello("spectator", None, 0, room.map(str::to_string))
        };
        GameClient::handshake(ws, hello).await
    }

    /// Whether this client is a spectator.
    pub fn is_spectator(&self) -> bool {
        self.welcome.spectator_delay_ms.is_some()
    }

    /// Like [`GameClient::connect`], asking for the room whose code is `room` (as a player would
    /// type it).
    pub async fn connect_to_room(
        url: &str,
        name: &str,
        room: &str,
    ) -> Result<GameClient, ClientError> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        GameClient::handshake(ws, hello(name, None, 0, Some(room.to_string()))).await
    }

    /// Like [`GameClient::connect`], asking for snapshots of at most `rate` bytes per second (0: the
    /// server's default).
    pub async fn connect_at_rate(
        url: &str,
        name: &str,
        rate: u32,
    ) -> Result<GameClient, ClientError> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        GameClient::handshake(ws, hello(name, None, rate, None)).await
    }

    /// Like [`GameClient::connect_resuming`] for a plain `ws://IP:PORT/...` URL, from the local
    /// address `from` (tests act as several clients with 127.0.0.x).
    pub async fn connect_from(
        url: &str,
        name: &str,
        resume_token: Option<ResumeToken>,
        from: std::net::IpAddr,
    ) -> Result<GameClient, ClientError> {
        let server: std::net::SocketAddr = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .and_then(|authority| authority.parse().ok())
            .ok_or(ClientError::Unexpected("connect_from needs ws://IP:PORT/"))?;
        let socket = match server {
            std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .map_err(tungstenite::Error::Io)?;
        socket
            .bind(std::net::SocketAddr::new(from, 0))
            .map_err(tungstenite::Error::Io)?;
        let tcp = socket
            .connect(server)
            .await
            .map_err(tungstenite::Error::Io)?;
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await?;
        GameClient::handshake(ws, hello(name, resume_token, 0, None)).await
    }

    /// Says `hello` on a fresh socket and waits for `Welcome`.
    async fn handshake(mut ws: Ws, hello: Hello) -> Result<GameClient, ClientError> {
        let _ = match ws.get_ref() {
            MaybeTlsStream::Plain(tcp) => tcp.set_nodelay(true),
            _ => Ok(()),
        };
        let hello = ClientMsg::Hello(hello);
        ws.send(Message::Binary(encode_client(&hello).into()))
            .await?;
        let mut bytes_received = 0;
        match read_server_msg(&mut ws, &mut bytes_received).await? {
            ServerMsg::Welcome(welcome) => {
                let rate = TickRate::new(welcome.tick_rate)
                    .ok_or(ClientError::Unexpected("tick rate out of range"))?;
                let mut view =
                    ClientView::new(Arc::new(welcome.map.clone()), MoveParams::new(rate));
                if welcome.spectator_delay_ms.is_none() {
                    // A spectator sees the whole room: nothing is dropped by distance.
                    view = view.with_viewer(welcome.player_id, welcome.view_radius);
                }
                Ok(GameClient {
                    ws,
                    welcome: *welcome,
                    view,
                    next_seq: 1,
                    events: Vec::new(),
                    bytes_received,
                    last_ack: None,
                    newest: (0, 0),
                })
            }
            ServerMsg::Refused { reason, detail } => Err(ClientError::Refused { reason, detail }),
            _ => Err(ClientError::Unexpected("expected Welcome")),
        }
    }

    /// The server's `Welcome`.
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    /// Movement distances at the room's tick rate.
    pub fn params(&self) -> &MoveParams {
        self.view.params()
    }

    /// What the client sees, as of the last snapshot.
    pub fn view(&self) -> &ClientView {
        &self.view
    }

    /// Forgets the view, as a client does before it asks for a full snapshot
    /// (`ClientMsg::RequestFullSnapshot`).
    pub fn reset_view(&mut self) {
        self.view.reset();
    }

    /// Events received so far (drained by the caller).
    pub fn events(&mut self) -> &mut Vec<GameEvent> {
        &mut self.events
    }

    /// Payload bytes received so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Sends any message.
    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        self.ws
            .send(Message::Binary(encode_client(msg).into()))
            .await?;
        Ok(())
    }

    /// Sends raw bytes as one binary message (for malformed-input tests).
    pub async fn send_raw(&mut self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.ws.send(Message::Binary(bytes.into())).await?;
        Ok(())
    }

    /// Sends the next input frame and returns its sequence number.
    pub async fn send_input(
        &mut self,
        move_x: i8,
        move_y: i8,
        aim: u16,
        buttons: u8,
    ) -> Result<u32, ClientError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let input = InputFrame {
            seq,
            tick: Tick(0), // no clock: queued and applied in order
            view_lag: 0,
            move_x,
            move_y,
            aim,
            buttons,
        };
        self.send(&ClientMsg::Input(input)).await?;
        Ok(seq)
    }

    /// The next message from the server, decoded.
    pub async fn next_message(&mut self) -> Result<ServerMsg, ClientError> {
        read_server_msg(&mut self.ws, &mut self.bytes_received).await
    }

    /// The next snapshot, applied to the view (its events are appended to [`GameClient::events`]).
    /// Other messages in between are skipped. At most every [`ACK_INTERVAL`] it acknowledges the
    /// snapshots read so far.
    pub async fn next_snapshot(&mut self) -> Result<Snapshot, ClientError> {
        loop {
            if let ServerMsg::Snapshot(snapshot) = self.next_message().await? {
                self.view.apply(&snapshot)?;
                if !self.view.matches(&snapshot) {
                    return Err(ClientError::Desync(snapshot.tick));
                }
                self.events.extend(snapshot.events.iter().cloned());
                self.newest = (snapshot.tick.0, snapshot.proof);
                let now = Instant::now();
                if self.last_ack.is_none_or(|last| now - last >= ACK_INTERVAL) {
                    self.last_ack = Some(now);
                    self.acknowledge().await?;
                }
                return Ok(snapshot);
            }
        }
    }

    /// Tells the server the newest snapshot tick read (a `Ping`; its `Pong` comes back like any
    /// message).
    pub async fn acknowledge(&mut self) -> Result<(), ClientError> {
        let (acked_tick, proof) = self.newest;
        self.send(&ClientMsg::Ping {
            nonce: 0,
            acked_tick,
            proof,
        })
        .await
    }

    /// Closes the connection without leaving: the server holds the seat for a resume (as when the
    /// network drops).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Leaves: closes with code 1000, which frees the seat at once, and waits (up to 2 s) for the
    /// server's close in answer, as a browser does. Dropping the socket straight after sending the
    /// close could reset the connection while a snapshot is on its way, and a reset can throw the
    /// unread close away: the server would then hold the seat for a resume.
    pub async fn leave(mut self) {
        let frame = CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "leaving".into(),
        };
        if self.ws.close(Some(frame)).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(message)) = self.ws.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// A player's `Hello` for `name` (with a resume token, a rate and a room code, if any).
fn hello(name: &str, resume_token: Option<ResumeToken>, rate: u32, room: Option<String>) -> Hello {
    Hello {
        protocol_version: PROTOCOL_VERSION,
        name: name.to_string(),
        resume_token,
        rate,
        room,
        watch: false,
    }
}

/// Reads the next server message (skipping control frames), counting its payload bytes.
async fn read_server_msg(ws: &mut Ws, bytes_received: &mut u64) -> Result<ServerMsg, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                *bytes_received += bytes.len() as u64;
                return Ok(decode_server(&bytes)?);
            }
            Some(Ok(Message::Close(frame))) => return Err(ClientError::Closed(frame)),
            Some(Ok(Message::Text(_))) => return Err(ClientError::Unexpected("text message")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ClientError::Closed(None)),
        }
    }
}
