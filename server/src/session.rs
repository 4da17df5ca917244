//! One player's connection after the WebSocket upgrade: the handshake, then a reader and a writer on
//! one task.
//!
//! The reader decodes (bounded), validates and rate-limits what the client sends and hands it to the
//! room through the [`PlayerLink`]; it never touches the world. The writer sends whatever the room put
//! in the link's outbox, and pongs, in frames of at most [`crate::fragment::FRAGMENT_BYTES`]. Either
//! side ending ends the session with a close code that says why.
//! A `Hello` asking to watch hands the connection to [`crate::spectate`] instead.

use crate::address::AddressKey;
use crate::admission::Refusal;
use crate::agones::PlayerEvent;
use crate::context::Context;
use crate::ending::{close_code_for, close_message, end_before_joining, NotJoined, CLOSE_TIMEOUT};
use crate::fragment::Outgoing;
use crate::limits::{MessageKind, RateLimits, Verdict, CHAT_TAG};
use crate::link::{Disconnect, PlayerLink};
use crate::lobby::JoinError;
use crate::upgrade::Ws;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use skirmish_shared::codec::{decode_client, encode_server};
use skirmish_shared::protocol::{
    close_code, ClientMsg, EntityId, Hello, RefuseReason, RoomId, ServerMsg, Welcome,
    MAX_CHAT_CHARS, PROTOCOL_VERSION,
};
use skirmish_shared::text::{sanitize_chat, sanitize_name};
use skirmish_shared::time::Tick;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::Poll;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Largest forward step between two input sequence numbers (ten seconds of ticks at 60 Hz). A client
/// numbers its inputs one per tick, so a bigger jump is a broken or hostile client (closed with 1007).
/// The first input after joining may carry any number (a resumed client continues its count).
const MAX_INPUT_SEQ_JUMP: u32 = 600;

/// Sessions that have joined, numbering their Agones player ids.
static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// Pongs queued for the writer; pings beyond this are not answered.
const PONG_QUEUE: usize = 4;

/// What the handshake phase ended with.
enum HelloOutcome {
    Hello(Hello),
    Close(Disconnect),
    Gone,
}

/// Waits for the first message, which must be a `Hello`.
async fn read_hello(ws: &mut Ws) -> HelloOutcome {
    loop {
        let message = match ws.next().await {
            Some(Ok(message)) => message,
            Some(Err(e)) => return HelloOutcome::Close(close_code_for(&e)),
            None => return HelloOutcome::Gone,
        };
        match message {
            Message::Binary(bytes) => {
                return match decode_client(&bytes) {
                    Ok(ClientMsg::Hello(hello)) => HelloOutcome::Hello(hello),
                    Ok(_) => HelloOutcome::Close(Disconnect {
                        code: close_code::POLICY_VIOLATION,
                        reason: "expected Hello",
                    }),
                    Err(_) => HelloOutcome::Close(Disconnect {
                        code: close_code::INVALID_PAYLOAD,
                        reason: "undecodable message",
                    }),
                };
            }
            Message::Text(_) => {
                return HelloOutcome::Close(Disconnect {
                    code: close_code::UNSUPPORTED_DATA,
                    reason: "binary messages only",
                })
            }
            Message::Close(_) => return HelloOutcome::Gone,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        }
    }
}

/// Runs a session from the upgraded socket to the end: the handshake (a `Hello`, admission, a seat,
/// the `Welcome`), then the reader and writer until either ends it.
pub async fn run(mut ws: Ws, ctx: Arc<Context>, client: IpAddr) {
    let hello = match wait_for_hello(&mut ws, &ctx)
        .await
        .and_then(|hello| check_protocol_version(&hello).map(|()| hello))
    {
        Ok(hello) => hello,
        Err(ending) => return end_before_joining(ws, &ctx.metrics, ending).await,
    };
    if hello.watch {
        if let Err((ws, ending)) = crate::spectate::run(ws, ctx.clone(), client, hello).await {
            end_before_joining(ws, &ctx.metrics, ending).await;
        }
        return;
    }
    // Made up front, and kept to the end, so a seat claim it holds lasts as long as the session.
    let link = Arc::new(PlayerLink::for_address(client));
    let joined = match handshake(&mut ws, &ctx, client, &link, hello).await {
        Ok(joined) => joined,
        Err(ending) => return end_before_joining(ws, &ctx.metrics, ending).await,
    };
    let agones_id = report_connected(&ctx, &joined);
    exchange_messages(ws, &link, &ctx, joined.room).await;
    report_left(&ctx, &link, agones_id);
}

/// Where a session that has joined plays.
struct Joined {
    /// The room that seated the player (for `Pong`s and the Agones id).
    room: RoomId,
    /// The player's id in that room.
    player: EntityId,
}

/// From the `Hello` to the `Welcome`: the checks it must pass, and a seat.
async fn handshake(
    ws: &mut Ws,
    ctx: &Context,
    client: IpAddr,
    link: &Arc<PlayerLink>,
    hello: Hello,
) -> Result<Joined, NotJoined> {
    admit(ctx, client, &hello, link)?;
    link.set_asked_rate(hello.rate);
    let welcome = join_or_resume(ctx, &hello, link).await?;
    send_welcome(ws, ctx, welcome, link).await
}

/// Waits for the `Hello`, at most the join timeout, and not past the start of a shutdown.
async fn wait_for_hello(ws: &mut Ws, ctx: &Context) -> Result<Hello, NotJoined> {
    let mut shutting_down = ctx.shutting_down.clone();
    let hello = tokio::select! {
        hello = timeout(ctx.config.join_timeout, read_hello(ws)) => hello,
        _ = async { shutting_down.wait_for(|down| *down).await.is_ok() } => {
            return Err(NotJoined::Close(Disconnect::SHUTDOWN));
        }
    };
    match hello {
        Ok(HelloOutcome::Hello(hello)) => Ok(hello),
        Ok(HelloOutcome::Close(reason)) => {
            ctx.metrics.protocol_errors.fetch_add(1, Relaxed);
            tracing::info!(
                code = reason.code,
                reason = reason.reason,
                "closing before joining"
            );
            Err(NotJoined::Close(reason))
        }
        Ok(HelloOutcome::Gone) => Err(NotJoined::Gone),
        Err(_) => {
            tracing::info!("closing: no Hello in time");
            Err(NotJoined::Close(Disconnect {
                code: close_code::JOIN_TIMEOUT,
                reason: "no Hello in time",
            }))
        }
    }
}

/// Refuses a client that speaks another protocol version.
fn check_protocol_version(hello: &Hello) -> Result<(), NotJoined> {
    if hello.protocol_version == PROTOCOL_VERSION {
        return Ok(());
    }
    Err(NotJoined::Refuse {
        reason: RefuseReason::VersionMismatch {
            server: PROTOCOL_VERSION,
        },
        code: close_code::VERSION_MISMATCH,
        detail: format!(
            "this server speaks protocol {PROTOCOL_VERSION}, the client speaks {}",
            hello.protocol_version
        ),
    })
}

/// Applies the client address's ban, join rate and seat cap; a new seat's claim goes on `link`.
fn admit(ctx: &Context, client: IpAddr, hello: &Hello, link: &PlayerLink) -> Result<(), NotJoined> {
    // A ban set while this connection waited for its Hello holds here too.
    if ctx.bans.is_banned(client) {
        return Err(NotJoined::Close(Disconnect::BANNED));
    }
    let address = AddressKey::of(client);
    let admitted = if !ctx.addresses.allow_join(address) {
        Err(Refusal::TooFast)
    } else if hello.resume_token.is_none() {
        // A new seat counts against the address for as long as it exists, held or not.
        ctx.addresses
            .claim_seat(address)
            .map(|claim| link.set_claim(claim))
    } else {
        Ok(()) // a resume takes back a seat already counted
    };
    admitted.map_err(|refusal| {
        ctx.metrics.joins_refused_address.fetch_add(1, Relaxed);
        NotJoined::Refuse {
            reason: RefuseReason::AddressLimit,
            code: close_code::ADDRESS_LIMIT,
            detail: refusal.to_string(),
        }
    })
}

/// Asks the lobby for a seat, or for the seat the `Hello`'s resume token holds, and returns the
/// `Welcome` to send.
async fn join_or_resume(
    ctx: &Context,
    hello: &Hello,
    link: &Arc<PlayerLink>,
) -> Result<Welcome, NotJoined> {
    let name = sanitize_name(&hello.name);
    let joined = match hello.resume_token {
        Some(token) => ctx.lobby.resume(token, link.clone()).await,
        None => {
            let room = hello.room.as_deref();
            ctx.lobby.join(name.clone(), room, link.clone()).await
        }
    };
    let welcome = match joined {
        Ok(welcome) => welcome,
        Err(JoinError::ShuttingDown) => return Err(NotJoined::Close(Disconnect::SHUTDOWN)),
        Err(e) => {
            let (reason, code) = match e {
                JoinError::UnknownToken => {
                    (RefuseReason::BadResumeToken, close_code::BAD_RESUME_TOKEN)
                }
                // No close code of their own: the refusal's reason tells them apart.
                JoinError::NoSuchRoom(_) => (RefuseReason::NoSuchRoom, close_code::SERVER_FULL),
                JoinError::RoomFull(..) => (RefuseReason::RoomFull, close_code::SERVER_FULL),
                _ => (RefuseReason::ServerFull, close_code::SERVER_FULL),
            };
            return Err(NotJoined::Refuse {
                reason,
                code,
                detail: e.to_string(),
            });
        }
    };
    let span = tracing::Span::current();
    span.record("player", welcome.player_id.0);
    span.record("room", welcome.room.0);
    tracing::info!(%name, resumed = hello.resume_token.is_some(), "joined");
    Ok(welcome)
}

/// Sends the `Welcome`; if the client has gone, its seat is let go.
async fn send_welcome(
    ws: &mut Ws,
    ctx: &Context,
    welcome: Welcome,
    link: &PlayerLink,
) -> Result<Joined, NotJoined> {
    let joined = Joined {
        room: welcome.room,
        player: welcome.player_id,
    };
    let welcome = encode_server(&ServerMsg::Welcome(Box::new(welcome)));
    let len = welcome.len() as u64;
    if crate::fragment::send(ws, welcome.into()).await.is_err() {
        link.disconnect(Disconnect::CLIENT_CLOSED);
        return Err(NotJoined::Gone);
    }
    ctx.metrics.bytes_sent.fetch_add(len, Relaxed);
    Ok(joined)
}

/// Tells Agones (if reporting to it) that a player connected; returns the id it was given.
fn report_connected(ctx: &Context, joined: &Joined) -> String {
    // One id per connection, so a resume that replaces a live connection (whose end is reported
    // later) never cancels the new one's report.
    let agones_id = format!(
        "{}-{}-{}",
        joined.room.0,
        joined.player.0,
        CONNECTIONS.fetch_add(1, Relaxed)
    );
    if let Some(agones) = &ctx.agones {
        agones.send(PlayerEvent::Connected(agones_id.clone()));
    }
    agones_id
}

/// What ended an exchange of messages.
enum Ending {
    /// The link was ended (by the room, the server, or the reader below) with this reason.
    Link(Disconnect),
    /// The client's side ended or broke the protocol, for this reason.
    Client(Disconnect),
    /// A write failed: the connection is gone.
    Gone,
}

/// Reads and writes on one task until the link ends or the connection does, then closes with the
/// reason (the first one given wins). The socket is polled directly, not split into halves behind a
/// lock: a read never waits for a write (a player whose downlink is full still has its inputs
/// read), and a snapshot or pong is written as soon as the socket takes it.
async fn exchange_messages(mut ws: Ws, link: &PlayerLink, ctx: &Context, room: RoomId) {
    let mut reader = Reader::new(link, ctx, room);
    let mut writer = Writer::default();
    let ending = poll_fn(|cx| {
        link.register_session(cx.waker());
        if let Some(reason) = link.disconnected() {
            return Poll::Ready(Ending::Link(reason));
        }
        loop {
            if let Err(()) = writer.poll_write(&mut ws, link, ctx, cx) {
                return Poll::Ready(Ending::Gone);
            }
            let Poll::Ready(item) = ws.poll_next_unpin(cx) else {
                return Poll::Pending;
            };
            match reader.handle(item) {
                Ok(None) => {}
                Ok(Some(pong)) => writer.queue_pong(pong),
                Err(reason) => return Poll::Ready(Ending::Client(reason)),
            }
        }
    })
    .await;
    let reason = match ending {
        Ending::Gone => {
            link.disconnect(Disconnect::CLIENT_CLOSED);
            return;
        }
        Ending::Client(reason) => {
            if ![
                Disconnect::CLIENT_CLOSED,
                Disconnect::LEFT,
                Disconnect::PAGE_GONE,
            ]
            .contains(&reason)
            {
                ctx.metrics.protocol_errors.fetch_add(1, Relaxed);
                tracing::info!(
                    code = reason.code,
                    reason = reason.reason,
                    "closing: client broke the protocol"
                );
            }
            link.disconnect(reason);
            link.disconnected().unwrap_or(reason)
        }
        Ending::Link(reason) => reason,
    };
    let close = async {
        // A shutdown or an operator's kick may leave a last snapshot (with its notice) to deliver
        // first, after the rest of a message already begun; a slow reader's is not worth waiting for.
        if reason.flush_first() {
            if let Some(outgoing) = writer.current.as_mut() {
                outgoing.finish(&mut ws).await?;
            }
            if let Some(last) = link.take_outbound() {
                crate::fragment::send(&mut ws, last).await?;
            }
        }
        ws.send(close_message(reason.code, reason.reason)).await
    };
    let _ = timeout(CLOSE_TIMEOUT, close).await;
}

/// The writing half of a session: the message being written (the outbox's snapshot first, then
/// pongs), a frame at a time as the socket takes them.
#[derive(Default)]
struct Writer {
    /// The message being written, and whether it is a snapshot (for the metrics).
    current: Option<Outgoing>,
    current_is_snapshot: bool,
    /// Pongs waiting for the socket; pings beyond [`PONG_QUEUE`] are not answered.
    pongs: VecDeque<Bytes>,
}

impl Writer {
    fn queue_pong(&mut self, pong: Bytes) {
        if self.pongs.len() < PONG_QUEUE {
            self.pongs.push_back(pong);
        }
    }

    /// Writes what there is until the socket is full or nothing is left (the task is woken for
    /// either); `Err` if the connection is gone.
    fn poll_write(
        &mut self,
        ws: &mut Ws,
        link: &PlayerLink,
        ctx: &Context,
        cx: &mut std::task::Context<'_>,
    ) -> Result<(), ()> {
        loop {
            let outgoing = match &mut self.current {
                Some(outgoing) => outgoing,
                None => {
                    if let Some(snapshot) = link.take_outbound() {
                        self.current_is_snapshot = true;
                        self.current.insert(Outgoing::new(snapshot))
                    } else if let Some(pong) = self.pongs.pop_front() {
                        self.current_is_snapshot = false;
                        self.current.insert(Outgoing::new(pong))
                    } else {
                        return Ok(());
                    }
                }
            };
            match ws.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Err(()),
                Poll::Pending => return Ok(()),
            }
            if let Some(frame) = outgoing.next_frame() {
                ws.start_send_unpin(frame).map_err(|_| ())?;
                continue;
            }
            match ws.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Err(()),
                Poll::Pending => return Ok(()),
            }
            ctx.metrics
                .bytes_sent
                .fetch_add(outgoing.len() as u64, Relaxed);
            if self.current_is_snapshot {
                ctx.metrics.snapshots_sent.fetch_add(1, Relaxed);
            }
            self.current = None;
        }
    }
}

/// Counts and logs why the session ended, and tells Agones the player left.
fn report_left(ctx: &Context, link: &PlayerLink, agones_id: String) {
    let reason = link.disconnected().unwrap_or(Disconnect::CLIENT_CLOSED);
    ctx.metrics.count_disconnect(reason.code);
    tracing::info!(code = reason.code, reason = reason.reason, "left");
    if let Some(agones) = &ctx.agones {
        agones.send(PlayerEvent::Disconnected(agones_id));
    }
}

/// The reading half of a session: decodes (bounded), validates and rate-limits what the client
/// sends, and hands it to the room through the link.
struct Reader<'a> {
    link: &'a PlayerLink,
    ctx: &'a Context,
    room: RoomId,
    address: AddressKey,
    limits: RateLimits,
    last_seq: u32,
    last_desync: u32,
}

impl<'a> Reader<'a> {
    fn new(link: &'a PlayerLink, ctx: &'a Context, room: RoomId) -> Reader<'a> {
        Reader {
            link,
            ctx,
            room,
            address: link
                .address()
                .map_or(AddressKey::of([0, 0, 0, 0].into()), AddressKey::of),
            limits: RateLimits::new(ctx.config.tick_rate.hz(), Instant::now()),
            last_seq: 0,
            last_desync: 0,
        }
    }

    /// Takes what the socket gave (`None`: it ended): a pong to send, nothing, or why the session
    /// ends.
    fn handle(
        &mut self,
        item: Option<Result<Message, WsError>>,
    ) -> Result<Option<Bytes>, Disconnect> {
        let (bytes, kind) = match item {
            // An empty message counts as "other" and fails to decode (1007).
            Some(Ok(Message::Binary(bytes))) => {
                let kind = MessageKind::Data(bytes.first().copied().unwrap_or(u8::MAX));
                (bytes, kind)
            }
            Some(Ok(Message::Text(_))) => {
                return Err(Disconnect {
                    code: close_code::UNSUPPORTED_DATA,
                    reason: "binary messages only",
                });
            }
            // A close with 1000 is a clean leave; 1001 a page that went (maybe reloading), held a
            // short while; any other ending keeps the seat for a resume.
            Some(Ok(Message::Close(Some(frame)))) if frame.code == CloseCode::Normal => {
                return Err(Disconnect::LEFT)
            }
            Some(Ok(Message::Close(Some(frame)))) if frame.code == CloseCode::Away => {
                return Err(Disconnect::PAGE_GONE)
            }
            Some(Ok(Message::Close(_))) | None => return Err(Disconnect::CLIENT_CLOSED),
            // Pings and pongs cost the server a read (and a pong) each: they have their own
            // allowance and cost strikes like any message.
            Some(Ok(_)) => (Default::default(), MessageKind::Control),
            Some(Err(e)) => return Err(close_code_for(&e)),
        };
        self.ctx
            .metrics
            .bytes_received
            .fetch_add(bytes.len() as u64, Relaxed);
        match self.limits.check(kind, Instant::now()) {
            Verdict::Allow => {}
            Verdict::Drop => {
                self.ctx.metrics.rate_limited.fetch_add(1, Relaxed);
                if kind == MessageKind::Data(CHAT_TAG) {
                    self.link.note_chat_dropped();
                }
                return Ok(None);
            }
            Verdict::Abuse => {
                return Err(Disconnect {
                    code: close_code::POLICY_VIOLATION,
                    reason: "rate limit",
                });
            }
        }
        if kind == MessageKind::Control {
            return Ok(None);
        }
        let invalid = |reason| Disconnect {
            code: close_code::INVALID_PAYLOAD,
            reason,
        };
        match decode_client(&bytes) {
            Err(_) => return Err(invalid("undecodable message")),
            Ok(ClientMsg::Input(input)) => {
                if !input.is_valid() {
                    return Err(invalid("input out of range"));
                }
                if self.last_seq != 0 && input.seq <= self.last_seq {
                    self.ctx.metrics.inputs_rejected.fetch_add(1, Relaxed);
                    return Ok(None); // stale or duplicate: rejected, the connection stays
                }
                if self.last_seq != 0 && input.seq - self.last_seq > MAX_INPUT_SEQ_JUMP {
                    return Err(invalid("input sequence jumped"));
                }
                self.last_seq = input.seq;
                if !self.link.push_input(input) {
                    self.ctx.metrics.inputs_dropped.fetch_add(1, Relaxed);
                }
            }
            Ok(ClientMsg::Chat { text }) => {
                if text.chars().count() > MAX_CHAT_CHARS {
                    self.ctx.metrics.chat_rejected.fetch_add(1, Relaxed);
                    return Ok(None); // over the cap: rejected whole, not cut
                }
                // The address's allowance spans all its seats; the seat's own is the room's.
                if !self.ctx.addresses.allow_chat(self.address) {
                    self.ctx.metrics.chat_rejected.fetch_add(1, Relaxed);
                    self.link.note_chat_dropped();
                    return Ok(None);
                }
                if let Some(text) = sanitize_chat(&text) {
                    self.link.push_chat(text);
                }
            }
            Ok(ClientMsg::Leave) => return Err(Disconnect::LEFT),
            Ok(ClientMsg::Ping {
                nonce,
                acked_tick,
                proof,
            }) => {
                if !self.link.acknowledge(acked_tick, proof) {
                    return Err(Disconnect {
                        code: close_code::POLICY_VIOLATION,
                        reason: "acknowledged a snapshot it did not receive",
                    });
                }
                let tick = Tick(self.ctx.lobby.room_tick(self.room).unwrap_or(0));
                return Ok(Some(Bytes::from(encode_server(&ServerMsg::Pong {
                    nonce,
                    tick,
                }))));
            }
            Ok(ClientMsg::RequestFullSnapshot) => self.link.request_full_snapshot(),
            Ok(ClientMsg::Desync { tick }) => {
                // Counted once per snapshot at most: a client cannot inflate the figure by
                // repeating itself.
                if tick.0 > self.last_desync {
                    self.last_desync = tick.0;
                    self.ctx.metrics.desyncs.fetch_add(1, Relaxed);
                    tracing::warn!(
                        room = self.room.0,
                        tick = tick.0,
                        "a client's view desynced"
                    );
                }
                self.link.request_full_snapshot();
            }
            Ok(ClientMsg::Hello(_)) => {
                return Err(Disconnect {
                    code: close_code::POLICY_VIOLATION,
                    reason: "Hello after the handshake",
                });
            }
        }
        Ok(None)
    }
}
