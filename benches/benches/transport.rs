//! Micro-benchmark of a player's transport path, once per snapshot: the room copies the snapshot
//! into `Bytes` and offers it to the link, the session takes it and writes it as WebSocket frames
//! (one frame up to 2 KB, fragments above: `skirmish_server::fragment`) into a socket that takes
//! everything. A steady snapshot (300 bytes) and a join's full snapshot at 3,000 players (45 KB).
//! The kernel's share (the send itself) is measured by the load-test harness, not here.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use skirmish_server::fragment;
use skirmish_server::link::PlayerLink;
use skirmish_server::upgrade::websocket_config;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

/// A socket that takes every byte written and never has any to read.
struct Discard;

impl AsyncRead for Discard {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for Discard {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn offer_take_send(c: &mut Criterion) {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(e) => panic!("no runtime: {e}"),
    };
    let mut ws = runtime.block_on(WebSocketStream::from_raw_socket(
        Discard,
        Role::Server,
        Some(websocket_config()),
    ));
    let link = PlayerLink::new();
    let mut group = c.benchmark_group("transport");
    for size in [300usize, 45_000] {
        let snapshot = vec![7u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("offer_take_send", size),
            &snapshot,
            |b, snapshot| {
                b.iter(|| {
                    let offered = link.offer_if_empty(Bytes::copy_from_slice(snapshot));
                    assert!(offered, "the outbox was empty");
                    let Some(taken) = link.take_outbound() else {
                        panic!("offered, so there to take");
                    };
                    if let Err(e) = runtime.block_on(fragment::send(&mut ws, taken)) {
                        panic!("a socket that takes everything refused: {e}");
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, offer_take_send);
criterion_main!(benches);
