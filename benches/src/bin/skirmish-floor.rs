//! `skirmish-floor`: the transport floor. A bare tokio-tungstenite broadcaster that accepts the same
//! handshake as the game server and sends every connection one frame of `--frame-bytes` at `--hz`, with
//! no game behind it. Load tests compare the game server's CPU per delivered snapshot against this.
//! By default a connection is sent the newest frame when it can take one (as a player's outbox keeps
//! only the newest snapshot); with `--queue-frames N` every frame goes through a broadcast channel
//! holding N frames (as a spectator's feed does), one that falls further behind skipping ahead.
//!
//! It serves `/metrics` (process CPU and memory) and `/ws` on one port, and prints
//! `listening on HOST:PORT` on its first line.

use bytes::Bytes;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use skirmish_server::metrics::Metrics;
use skirmish_server::response;
use skirmish_server::upgrade::{self, websocket_config};
use skirmish_shared::codec::{decode_client, encode_server};
use skirmish_shared::map::Map;
use skirmish_shared::protocol::{
    ClientMsg, EntityId, GameEvent, ResumeToken, RoomId, ServerMsg, Snapshot, Welcome,
};
use skirmish_shared::time::Tick;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
#[command(
    name = "skirmish-floor",
    about = "Bare WebSocket broadcaster: the transport cost floor"
)]
struct Args {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// Bytes per frame (a snapshot padded to this size).
    #[arg(long, default_value_t = 200)]
    frame_bytes: usize,
    /// Frames per second to every connection.
    #[arg(long, default_value_t = 30)]
    hz: u16,
    /// 0: each connection is sent the newest frame when its socket takes one. N: every frame, through
    /// a broadcast channel holding N frames for a connection that has not taken them yet.
    #[arg(long, default_value_t = 0)]
    queue_frames: usize,
}

/// Where connections take their frames from.
#[derive(Clone)]
enum FrameSource {
    /// The newest frame only.
    Newest(watch::Receiver<Bytes>),
    /// Every frame, queued.
    Queued(broadcast::Sender<Bytes>),
}

/// One connection's frames.
enum Frames {
    Newest(watch::Receiver<Bytes>),
    Queued(broadcast::Receiver<Bytes>),
}

impl FrameSource {
    /// The frames from now on.
    fn frames(&self) -> Frames {
        match self {
            FrameSource::Newest(receiver) => {
                let mut receiver = receiver.clone();
                receiver.mark_unchanged();
                Frames::Newest(receiver)
            }
            FrameSource::Queued(sender) => Frames::Queued(sender.subscribe()),
        }
    }
}

impl Frames {
    /// The next frame to send; `None` once the source is gone.
    async fn next(&mut self) -> Option<Bytes> {
        match self {
            Frames::Newest(receiver) => {
                receiver.changed().await.ok()?;
                Some(receiver.borrow_and_update().clone())
            }
            Frames::Queued(receiver) => loop {
                match receiver.recv().await {
                    Ok(frame) => return Some(frame),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
        }
    }
}

/// A snapshot for `tick` padded with a chat event to about `size` bytes.
fn frame(tick: u32, size: usize) -> Bytes {
    let mut snapshot = Snapshot {
        tick: Tick(tick),
        baseline: Some(Tick(tick.saturating_sub(1))),
        ..Snapshot::default()
    };
    let bare = encode_server(&ServerMsg::Snapshot(snapshot.clone())).len();
    let padding = size.saturating_sub(bare + 6);
    snapshot.events.push(GameEvent::Chat {
        from: EntityId(0),
        text: "x".repeat(padding),
    });
    Bytes::from(encode_server(&ServerMsg::Snapshot(snapshot)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(&args.bind).await?;
    println!("listening on {}", listener.local_addr()?);
    let metrics = Arc::new(Metrics::default());
    let (newest_tx, newest) = watch::channel(frame(0, args.frame_bytes));
    let (queued_tx, _) = broadcast::channel(args.queue_frames.max(1));
    let frames = if args.queue_frames > 0 {
        FrameSource::Queued(queued_tx.clone())
    } else {
        FrameSource::Newest(newest)
    };
    let size = args.frame_bytes;
    let hz = args.hz.max(1);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(std::time::Duration::from_secs(1) / u32::from(hz));
        let mut tick = 0u32;
        loop {
            interval.tick().await;
            tick += 1;
            // Encoded once; the same bytes to every connection.
            let frame = frame(tick, size);
            let _ = newest_tx.send(frame.clone());
            // No receiver is not an error: nobody is connected.
            let _ = queued_tx.send(frame);
        }
    });
    let welcome = encode_server(&ServerMsg::Welcome(Box::new(Welcome {
        player_id: EntityId(1),
        room: RoomId(1),
        room_code: "FLOOR".into(),
        respawn_delay_ms: 0,
        spawn_protection_ms: 0,
        // One tick per frame (the frames' ticks count frames): a bot's snapshot lag and its
        // delivery, both reckoned in ticks, then mean the same as against the game server.
        tick_rate: hz,
        snapshot_rate: hz,
        view_radius: 0,
        map: Map::parse("S").map_err(|e| anyhow::anyhow!("{e}"))?,
        resume_token: ResumeToken([0; 16]),
        spectator_delay_ms: None,
    })));
    let welcome = Bytes::from(welcome);
    loop {
        let (stream, _) = listener.accept().await?;
        let (frames, metrics, welcome) = (frames.clone(), metrics.clone(), welcome.clone());
        tokio::spawn(async move {
            let _ = serve(stream, frames, metrics, welcome).await;
        });
    }
}

/// Serves one connection with the same HTTP stack and upgrade routine as the game server.
async fn serve(
    stream: TcpStream,
    frames: FrameSource,
    metrics: Arc<Metrics>,
    welcome: Bytes,
) -> anyhow::Result<()> {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request: Request<Incoming>| {
        let response = if request.uri().path() == "/metrics" {
            response::respond(
                StatusCode::OK,
                skirmish_server::metrics::CONTENT_TYPE,
                metrics.render(),
            )
        } else {
            match upgrade::check(&request) {
                Err(refusal) => refusal.response(),
                Ok(accept) => {
                    let (frames, welcome) = (frames.clone(), welcome.clone());
                    tokio::spawn(async move {
                        if let Some(ws) = upgrade::websocket(request, websocket_config()).await {
                            let _ = broadcast(ws, frames, welcome).await;
                        }
                    });
                    upgrade::switching_protocols(&accept)
                }
            }
        };
        std::future::ready(Ok::<_, Infallible>(response))
    });
    http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await?;
    Ok(())
}

/// Sends the Welcome after the Hello, then the frames from then on, and answers pings.
async fn broadcast(ws: upgrade::Ws, source: FrameSource, welcome: Bytes) -> anyhow::Result<()> {
    let (mut sink, mut incoming) = ws.split();
    // Taken at the Hello.
    let mut frames: Option<Frames> = None;
    loop {
        tokio::select! {
            message = incoming.next() => {
                let Some(Ok(Message::Binary(bytes))) = message else {
                    if matches!(message, Some(Ok(_))) { continue; }
                    return Ok(());
                };
                match decode_client(&bytes) {
                    Ok(ClientMsg::Hello(_)) if frames.is_none() => {
                        frames = Some(source.frames());
                        sink.send(Message::Binary(welcome.clone())).await?;
                    }
                    Ok(ClientMsg::Ping { nonce, .. }) => {
                        let pong = encode_server(&ServerMsg::Pong { nonce, tick: Tick(0) });
                        sink.send(Message::Binary(pong.into())).await?;
                    }
                    Ok(_) => {}
                    Err(_) => return Ok(()),
                }
            }
            frame = next(&mut frames), if frames.is_some() => {
                let Some(frame) = frame else { return Ok(()) };
                sink.send(Message::Binary(frame)).await?;
            }
        }
    }
}

/// The next frame of a connection that has joined (pending forever before it has).
async fn next(frames: &mut Option<Frames>) -> Option<Bytes> {
    match frames {
        Some(frames) => frames.next().await,
        None => std::future::pending().await,
    }
}
