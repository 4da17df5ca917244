//! A spectator's connection: after a `Hello` with `watch`, the room's broadcast feed.
//!
//! Places are bounded: `--max-spectators-per-room`, `--max-spectators-per-ip` from one address, and a spectator that sends nothing (no ping) for [`SPECTATOR_SILENCE`]
//! slow-reader timeouts is closed (4003), so places held by clients that do not watch come back.
//!
//! A spectator takes no seat. Its session subscribes to the room's feed ([`crate::feed`]): it is
//! sent the frames since the last keyframe, then every frame as the room releases it, the same bytes
//! every other spectator is sent. One task reads and writes. The client may ping (its pongs carry the
//! feed's tick, the room's less the delay), ask for a full snapshot (it starts over from the last
//! keyframe), and leave; its inputs and chat are rejected and counted, the connection kept. A
//! spectator that falls further behind than the feed's channel holds is sent the frames it missed
//! from the chain (or, if the chain has moved past them, the next keyframe on); one whose socket takes no frame for the slow-reader timeout is closed (4003). When the
//! room closes, its spectators are told why (1000, "the room closed"); on shutdown, 1001.

use crate::address::AddressKey;
use crate::context::Context;
use crate::ending::{close_code_for, close_message, NotJoined, CLOSE_TIMEOUT};
use crate::feed::{FeedFrame, SpectatorSeat};
use crate::limits::{MessageKind, RateLimits, Verdict};
use crate::link::Disconnect;
use crate::lobby::JoinError;
use crate::upgrade::Ws;
use futures_util::{SinkExt, StreamExt};
use skirmish_shared::codec::{decode_client, encode_server};
use skirmish_shared::protocol::{close_code, ClientMsg, Hello, RefuseReason, RoomId, ServerMsg};
use skirmish_shared::time::Tick;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

/// How a spectator's session ended.
const ROOM_CLOSED: Disconnect = Disconnect {
    code: close_code::NORMAL,
    reason: "the room closed",
};

/// How long a spectator may send nothing, in slow-reader timeouts (15 s by default): clients ping
/// about once a second (their clock needs it), so one silent this long has stopped reading, or
/// never meant to.
pub const SPECTATOR_SILENCE: u32 = 5;

const SILENT: Disconnect = Disconnect {
    code: close_code::TOO_SLOW,
    reason: "sent nothing for too long (a spectator pings)",
};

/// Least time between two resends of the whole chain to one spectator (a keyframe interval).
const RESTART_INTERVAL: Duration = Duration::from_millis(crate::room::KEYFRAME_MS as u64);

/// Admits a spectator (`hello.watch`), sends its `Welcome`, and runs its session to the end.
pub(crate) async fn run(
    mut ws: Ws,
    ctx: Arc<Context>,
    client: IpAddr,
    hello: Hello,
) -> Result<(), (Ws, NotJoined)> {
    if let Err(refusal) = admit(&ctx, client) {
        return Err((ws, refusal));
    }
    let address = Some(AddressKey::of(client));
    let (welcome, seat, delay_ticks) = match ctx.lobby.watch(hello.room.as_deref(), address) {
        Ok(watching) => watching,
        Err(e) => return Err((ws, refusal_for(e))),
    };
    let room = welcome.room;
    tracing::Span::current().record("room", room.0);
    let bytes = encode_server(&ServerMsg::Welcome(Box::new(welcome)));
    if ws
        .send(Message::Binary(bytes.clone().into()))
        .await
        .is_err()
    {
        ctx.metrics.count_disconnect(close_code::NORMAL);
        return Ok(());
    }
    ctx.metrics
        .bytes_sent
        .fetch_add(bytes.len() as u64, Relaxed);
    ctx.metrics.spectators.fetch_add(1, Relaxed);
    tracing::info!("watching");
    let reason = watch(&mut ws, &ctx, &seat, room, delay_ticks).await;
    ctx.metrics.spectators.fetch_sub(1, Relaxed);
    ctx.metrics.count_disconnect(reason.code);
    tracing::info!(
        code = reason.code,
        reason = reason.reason,
        "stopped watching"
    );
    if reason != Disconnect::LEFT && reason != Disconnect::CLIENT_CLOSED {
        let _ = timeout(
            CLOSE_TIMEOUT,
            ws.send(close_message(reason.code, reason.reason)),
        )
        .await;
    }
    Ok(())
}

/// The address's ban and join rate apply to spectators too (they take no seat, so no seat cap).
fn admit(ctx: &Context, client: IpAddr) -> Result<(), NotJoined> {
    if ctx.bans.is_banned(client) {
        return Err(NotJoined::Close(Disconnect::BANNED));
    }
    if !ctx.addresses.allow_join(AddressKey::of(client)) {
        ctx.metrics.joins_refused_address.fetch_add(1, Relaxed);
        return Err(NotJoined::Refuse {
            reason: RefuseReason::AddressLimit,
            code: close_code::ADDRESS_LIMIT,
            detail: crate::admission::Refusal::TooFast.to_string(),
        });
    }
    Ok(())
}

fn refusal_for(error: JoinError) -> NotJoined {
    let (reason, code) = match error {
        JoinError::ShuttingDown => return NotJoined::Close(Disconnect::SHUTDOWN),
        JoinError::SpectatorsFull(..) => (RefuseReason::SpectatorsFull, close_code::SERVER_FULL),
        JoinError::SpectatorsFromAddress(..) => {
            (RefuseReason::AddressLimit, close_code::ADDRESS_LIMIT)
        }
        _ => (RefuseReason::NoSuchRoom, close_code::SERVER_FULL),
    };
    NotJoined::Refuse {
        reason,
        code,
        detail: error.to_string(),
    }
}

/// What the writer sends next.
struct Outgoing {
    /// Frames to send before taking more from the channel (a chain after a (re)start).
    queue: VecDeque<FeedFrame>,
    /// Skip deltas until a keyframe: the chain was empty when the spectator (re)started.
    wait_for_keyframe: bool,
}

type Receiver = tokio::sync::broadcast::Receiver<FeedFrame>;

impl Outgoing {
    /// Subscribes to the feed. The chain's frames after `after` are queued: a client that holds
    /// the frame of `after` (it fell behind the channel) continues from there without a gap; one
    /// that holds nothing (`None`: it has just joined, or asked for a full snapshot) gets the whole
    /// chain from its keyframe. `None` once the room has closed.
    fn start(seat: &SpectatorSeat, after: Option<Tick>) -> Option<(Outgoing, Receiver)> {
        let (chain, receiver) = seat.feed().subscribe()?;
        let outgoing = Outgoing {
            wait_for_keyframe: chain.is_empty(),
            queue: chain
                .into_iter()
                .filter(|frame| after.is_none_or(|after| frame.tick > after))
                .collect(),
        };
        Some((outgoing, receiver))
    }
}

/// Sends the feed and reads the client until either ends; returns why it ended.
async fn watch(
    ws: &mut Ws,
    ctx: &Context,
    seat: &SpectatorSeat,
    room: RoomId,
    delay_ticks: u32,
) -> Disconnect {
    let Some((mut outgoing, mut frames)) = Outgoing::start(seat, None) else {
        return ROOM_CLOSED;
    };
    // The newest frame sent.
    let mut sent: Option<Tick> = None;
    let mut limits = RateLimits::new(ctx.config.tick_rate.hz(), Instant::now());
    let mut shutting_down = ctx.shutting_down.clone();
    let slow = ctx.config.slow_reader_timeout;
    let silence = slow * SPECTATOR_SILENCE;
    // Made once, not once a frame: a frame's wake-up costs the spectator what a socket costs.
    let shutdown = async { shutting_down.wait_for(|down| *down).await.map(|_| ()) };
    tokio::pin!(shutdown);
    let silent = tokio::time::sleep(silence);
    tokio::pin!(silent);
    // When the client last had the whole chain resent.
    let mut restarted_at: Option<Instant> = None;
    loop {
        // The next frame to send: queued, or from the channel (while reading the client too).
        let frame = match outgoing.queue.pop_front() {
            Some(frame) => frame,
            None => {
                tokio::select! {
                    biased;
                    _ = &mut shutdown => return Disconnect::SHUTDOWN,
                    _ = &mut silent => return SILENT,
                    message = ws.next() => {
                        silent.as_mut().reset(Instant::now() + silence);
                        match read(message, &mut limits, ctx, room, delay_ticks) {
                            Read::Nothing => {}
                            Read::Pong(pong) => {
                                if ws.send(Message::Binary(pong.into())).await.is_err() {
                                    return Disconnect::CLIENT_CLOSED;
                                }
                            }
                            Read::Restart => {
                                // The client has forgotten its view: the whole chain, at most
                                // once a keyframe interval (a client asking more often waits for
                                // the next keyframe instead, so asking cannot multiply its share
                                // of the feed).
                                ctx.metrics.spectator_resyncs.fetch_add(1, Relaxed);
                                let now = Instant::now();
                                let recently = restarted_at
                                    .is_some_and(|at| now - at < RESTART_INTERVAL);
                                match Outgoing::start(seat, None) {
                                    Some((mut restarted, receiver)) => {
                                        if recently {
                                            restarted.queue.clear();
                                            restarted.wait_for_keyframe = true;
                                        } else {
                                            restarted_at = Some(now);
                                        }
                                        outgoing = restarted;
                                        frames = receiver;
                                    }
                                    None => return ROOM_CLOSED,
                                }
                            }
                            Read::End(reason) => return reason,
                        }
                        continue;
                    }
                    received = frames.recv() => match received {
                        Ok(frame) => frame,
                        Err(RecvError::Lagged(_)) => {
                            // Fell behind the channel: the frames it missed, from the chain.
                            ctx.metrics.spectator_resyncs.fetch_add(1, Relaxed);
                            match Outgoing::start(seat, sent) {
                                Some((restarted, receiver)) => {
                                    outgoing = restarted;
                                    frames = receiver;
                                }
                                None => return ROOM_CLOSED,
                            }
                            continue;
                        }
                        Err(RecvError::Closed) => return ROOM_CLOSED,
                    },
                }
            }
        };
        if outgoing.wait_for_keyframe {
            if !frame.keyframe {
                continue;
            }
            outgoing.wait_for_keyframe = false;
        }
        let (len, tick) = (frame.bytes.len() as u64, frame.tick);
        match timeout(slow, ws.send(Message::Binary(frame.bytes))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Disconnect::CLIENT_CLOSED,
            Err(_) => {
                ctx.metrics.slow_reader_kicks.fetch_add(1, Relaxed);
                return Disconnect::TOO_SLOW;
            }
        }
        sent = Some(tick);
        ctx.metrics.bytes_sent.fetch_add(len, Relaxed);
        ctx.metrics.spectator_frames_sent.fetch_add(1, Relaxed);
    }
}

/// What one message from a spectator comes to.
enum Read {
    Nothing,
    Pong(Vec<u8>),
    Restart,
    End(Disconnect),
}

/// Handles one message from a spectator.
fn read(
    message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    limits: &mut RateLimits,
    ctx: &Context,
    room: RoomId,
    delay_ticks: u32,
) -> Read {
    let (bytes, kind) = match message {
        Some(Ok(Message::Binary(bytes))) => {
            let kind = MessageKind::Data(bytes.first().copied().unwrap_or(u8::MAX));
            (bytes, kind)
        }
        Some(Ok(Message::Text(_))) => {
            return Read::End(Disconnect {
                code: close_code::UNSUPPORTED_DATA,
                reason: "binary messages only",
            })
        }
        Some(Ok(Message::Close(Some(frame)))) if frame.code == CloseCode::Normal => {
            return Read::End(Disconnect::LEFT)
        }
        Some(Ok(Message::Close(_))) | None => return Read::End(Disconnect::CLIENT_CLOSED),
        Some(Ok(_)) => (Default::default(), MessageKind::Control),
        Some(Err(e)) => return Read::End(close_code_for(&e)),
    };
    ctx.metrics
        .bytes_received
        .fetch_add(bytes.len() as u64, Relaxed);
    match limits.check(kind, Instant::now()) {
        Verdict::Allow => {}
        Verdict::Drop => {
            ctx.metrics.rate_limited.fetch_add(1, Relaxed);
            return Read::Nothing;
        }
        Verdict::Abuse => {
            return Read::End(Disconnect {
                code: close_code::POLICY_VIOLATION,
                reason: "rate limit",
            })
        }
    }
    if kind == MessageKind::Control {
        return Read::Nothing;
    }
    match decode_client(&bytes) {
        Err(_) => Read::End(Disconnect {
            code: close_code::INVALID_PAYLOAD,
            reason: "undecodable message",
        }),
        Ok(ClientMsg::Input(_) | ClientMsg::Chat { .. }) => {
            // A spectator has no avatar and cannot speak to the players.
            ctx.metrics
                .spectator_messages_rejected
                .fetch_add(1, Relaxed);
            Read::Nothing
        }
        Ok(ClientMsg::Ping { nonce, .. }) => {
            let tick = ctx.lobby.room_tick(room).unwrap_or(0);
            let tick = Tick(tick.saturating_sub(delay_ticks));
            Read::Pong(encode_server(&ServerMsg::Pong { nonce, tick }))
        }
        // (Not counted as players' desyncs: a spectator's report costs it nothing, so it proves
        // nothing about the server; its restarts are counted as resyncs.)
        Ok(ClientMsg::RequestFullSnapshot | ClientMsg::Desync { .. }) => Read::Restart,
        Ok(ClientMsg::Leave) => Read::End(Disconnect::LEFT),
        Ok(ClientMsg::Hello(_)) => Read::End(Disconnect {
            code: close_code::POLICY_VIOLATION,
            reason: "Hello after the handshake",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::FeedShared;

    fn frame(tick: u32, keyframe: bool) -> FeedFrame {
        FeedFrame::for_test(tick, keyframe)
    }

    fn ticks(outgoing: &Outgoing) -> Vec<u32> {
        outgoing.queue.iter().map(|f| f.tick.0).collect()
    }

    #[test]
    fn a_restart_sends_what_the_client_lacks() {
        let feed = Arc::new(FeedShared::new(4, 2));
        let seat = feed.admit(None).expect("a place");
        // Before any keyframe: nothing to send, and deltas are skipped until one comes.
        feed.release(frame(3, false));
        let (outgoing, _) = Outgoing::start(&seat, None).expect("open");
        assert!(outgoing.wait_for_keyframe && outgoing.queue.is_empty());
        for (tick, keyframe) in [(6, true), (9, false), (12, false), (15, false)] {
            feed.release(frame(tick, keyframe));
        }
        // Joining, or after asking for a full snapshot: the whole chain from its keyframe.
        let (outgoing, _) = Outgoing::start(&seat, None).expect("open");
        assert_eq!(ticks(&outgoing), [6, 9, 12, 15]);
        assert!(!outgoing.wait_for_keyframe);
        // Fallen behind the channel after frame 9: the frames after it, which chain onto it.
        let (outgoing, _) = Outgoing::start(&seat, Some(Tick(9))).expect("open");
        assert_eq!(ticks(&outgoing), [12, 15]);
        // Fallen behind before the keyframe: from the keyframe.
        let (outgoing, _) = Outgoing::start(&seat, Some(Tick(3))).expect("open");
        assert_eq!(ticks(&outgoing), [6, 9, 12, 15]);
        feed.close();
        assert!(Outgoing::start(&seat, None).is_none(), "the room closed");
    }
}
