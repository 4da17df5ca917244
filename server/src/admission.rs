//! Who may connect: per-address accounting (connections and seats capped, connection, join and
//! chat rates limited; see [`AddressBook`]) and the WebSocket `Origin` allowlist (checked before the
//! upgrade).
//!
//! Browsers attach an `Origin` to every WebSocket handshake and a page on any site can open one to this
//! server, so a handshake from a foreign origin is refused with 403 (cross-site WebSocket hijacking).
//! Requests without an `Origin` come from non-browser clients (bots, native tools) and are allowed:
//! identity is the resume token inside the protocol, never a cookie.

use crate::address::AddressKey;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Seconds' worth of `--connect-rate-per-ip` one address may open in a burst: a page load opens a
/// handful of connections, a house behind one NAT a few dozen.
pub const CONNECT_BURST_SECONDS: f64 = 4.0;

/// Seconds' worth of `--join-rate-per-ip` one address may use in a burst.
pub const JOIN_BURST_SECONDS: f64 = 8.0;

/// Chat lines one address may send in a burst, and per second after, whatever seats it holds
/// (each seat also has its own, tighter limit).
pub const CHAT_RATE: (f64, f64) = (10.0, 2.0);

/// Failed admin authentications one address may make in a burst, and per second after (one every
/// ten seconds): enough for an operator's typo, not for guessing or flooding the log.
pub const AUTH_FAILURE_RATE: (f64, f64) = (5.0, 0.1);

/// Per-address limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddressLimits {
    /// Most open connections, and most seats (connected or held), of one address.
    pub cap: usize,
    /// New connections per second one address may open (after a burst of
    /// [`CONNECT_BURST_SECONDS`] of them).
    pub connect_rate: f64,
    /// Joins and resumes per second one address may make (after a burst of [`JOIN_BURST_SECONDS`]
    /// of them).
    pub join_rate: f64,
}

/// Checks of a rate limiter between two sweeps of its idle addresses.
const SWEEP_EVERY: u32 = 4096;

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// It opens connections (or joins) faster than its rate allows.
    #[error("too many attempts from this address; slow down")]
    TooFast,
    /// It already has as many connections, or seats, as one address may.
    #[error("this address holds as many seats as one address may")]
    AtCap,
}

/// What one address holds now.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Open connections.
    pub connections: usize,
    /// Seats in rooms, connected or held for a resume.
    pub seats: usize,
}

/// A keyed rate limiter that forgets idle addresses from time to time.
#[derive(Debug)]
pub struct KeyedRate {
    limiter: DefaultKeyedRateLimiter<AddressKey>,
    checks: AtomicU32,
}

impl KeyedRate {
    /// `per_second` (at least one a minute) after a burst of `burst` (at least 1).
    pub fn new(burst: f64, per_second: f64) -> KeyedRate {
        let burst = NonZeroU32::new(burst.clamp(1.0, 1e9) as u32).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs_f64(1.0 / per_second.clamp(1.0 / 60.0, 1e9));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        KeyedRate {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU32::new(0),
        }
    }

    /// Whether `key` may go on now (taking one from its allowance if so).
    pub fn allow(&self, key: AddressKey) -> bool {
        if self.checks.fetch_add(1, Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&key).is_ok()
    }
}

/// Per-address accounting: open connections and seats (connected or held), each capped, and the
/// rates of new connections, joins and chat. Keyed by [`AddressKey`], so an IPv6 client counts by
/// its /64.
#[derive(Debug)]
pub struct AddressBook {
    cap: usize,
    usage: Mutex<HashMap<AddressKey, Usage>>,
    connections: KeyedRate,
    joins: KeyedRate,
    chat: KeyedRate,
    auth_failures: KeyedRate,
}

/// One admitted connection; frees its address's slot when dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    book: Arc<AddressBook>,
    key: AddressKey,
}

/// One seat counted against its address. The room keeps it as long as the seat exists (held for a
/// resume included); dropping it frees the count.
#[derive(Debug)]
pub struct SeatClaim {
    book: Arc<AddressBook>,
    key: AddressKey,
}

impl AddressBook {
    /// An empty book enforcing `limits`.
    pub fn new(limits: AddressLimits) -> Arc<AddressBook> {
        let AddressLimits {
            cap,
            connect_rate,
            join_rate,
        } = limits;
        Arc::new(AddressBook {
            cap,
            usage: Mutex::new(HashMap::new()),
            connections: KeyedRate::new(connect_rate * CONNECT_BURST_SECONDS, connect_rate),
            joins: KeyedRate::new(join_rate * JOIN_BURST_SECONDS, join_rate),
            chat: KeyedRate::new(CHAT_RATE.0, CHAT_RATE.1),
            auth_failures: KeyedRate::new(AUTH_FAILURE_RATE.0, AUTH_FAILURE_RATE.1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AddressKey, Usage>> {
        self.usage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new connection from `key`, if its rate and cap allow one.
    pub fn admit(self: &Arc<Self>, key: AddressKey) -> Result<ConnectionSlot, Refusal> {
        if !self.connections.allow(key) {
            return Err(Refusal::TooFast);
        }
        self.take(key, connections)?;
        Ok(ConnectionSlot {
            book: self.clone(),
            key,
        })
    }

    /// Whether `key` may join or resume now (its join rate).
    pub fn allow_join(&self, key: AddressKey) -> bool {
        self.joins.allow(key)
    }

    /// Whether `key` may send a chat line now (its chat rate, across all its seats).
    pub fn allow_chat(&self, key: AddressKey) -> bool {
        self.chat.allow(key)
    }

    /// Whether `key` may fail another admin authentication now (counts the failure).
    pub fn allow_auth_failure(&self, key: AddressKey) -> bool {
        self.auth_failures.allow(key)
    }

    /// A claim on a new seat for `key`, unless it holds as many as one address may.
    pub fn claim_seat(self: &Arc<Self>, key: AddressKey) -> Result<SeatClaim, Refusal> {
        self.take(key, seats)?;
        Ok(SeatClaim {
            book: self.clone(),
            key,
        })
    }

    /// What `key` holds now.
    pub fn usage(&self, key: AddressKey) -> Usage {
        self.lock().get(&key).copied().unwrap_or_default()
    }

    /// Counts one more of what `count` picks for `key`, unless it is at the cap.
    fn take(&self, key: AddressKey, count: fn(&mut Usage) -> &mut usize) -> Result<(), Refusal> {
        let mut usage = self.lock();
        let held = count(usage.entry(key).or_default());
        if *held >= self.cap {
            return Err(Refusal::AtCap);
        }
        *held += 1;
        Ok(())
    }

    /// Counts one fewer of what `count` picks for `key`, forgetting addresses that hold nothing.
    fn release(&self, key: AddressKey, count: fn(&mut Usage) -> &mut usize) {
        let mut usage = self.lock();
        if let Some(entry) = usage.get_mut(&key) {
            let held = count(entry);
            *held = held.saturating_sub(1);
            if *entry == Usage::default() {
                usage.remove(&key);
            }
        }
    }
}

/// Picks the open connections of a [`Usage`].
fn connections(usage: &mut Usage) -> &mut usize {
    &mut usage.connections
}

/// Picks the seats of a [`Usage`].
fn seats(usage: &mut Usage) -> &mut usize {
    &mut usage.seats
}

impl SeatClaim {
    /// The address this seat counts against.
    pub fn key(&self) -> AddressKey {
        self.key
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.book.release(self.key, connections);
    }
}

impl Drop for SeatClaim {
    fn drop(&mut self) {
        self.book.release(self.key, seats);
    }
}

/// Address bans with their end times, keyed like every cap ([`AddressKey`]: an IPv6 ban covers
/// the address's /64).
#[derive(Debug, Default)]
pub struct Bans {
    until: Mutex<HashMap<AddressKey, Instant>>,
}

impl Bans {
    /// Bans `address` for `duration` (replacing any ban it had).
    pub fn ban(&self, address: IpAddr, duration: Duration) {
        self.lock()
            .insert(AddressKey::of(address), Instant::now() + duration);
    }

    /// Whether `address` is banned now.
    pub fn is_banned(&self, address: IpAddr) -> bool {
        let address = AddressKey::of(address);
        let mut bans = self.lock();
        match bans.get(&address) {
            Some(&until) if until > Instant::now() => true,
            Some(_) => {
                bans.remove(&address);
                false
            }
            None => false,
        }
    }

    /// The bans in force, with the time left on each.
    pub fn list(&self) -> Vec<(AddressKey, Duration)> {
        let now = Instant::now();
        let mut bans = self.lock();
        bans.retain(|_, until| *until > now);
        let mut list: Vec<_> = bans.iter().map(|(a, until)| (*a, *until - now)).collect();
        list.sort();
        list
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AddressKey, Instant>> {
        self.until.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether a WebSocket handshake request may upgrade, by its `Origin` and `Host` headers (see
/// [`origin_allowed`]).
pub fn request_origin_allowed<B>(request: &http::Request<B>, allowed: &[String]) -> bool {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
    };
    origin_allowed(
        header(http::header::ORIGIN),
        header(http::header::HOST),
        allowed,
    )
}

/// Whether a handshake with this `Origin` header may upgrade. `allowed` lists origins
/// (`scheme://host[:port]`, compared case-insensitively); when it is empty, only the server's own
/// origin is allowed: an `http` or `https` origin whose authority equals the request's `Host`.
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin.map(str::trim) else {
        return true; // not a browser
    };
    let origin = origin.trim_end_matches('/');
    if !allowed.is_empty() {
        return allowed
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin));
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match (authority, host.map(str::trim)) {
        (Some(authority), Some(host)) => !host.is_empty() && authority.eq_ignore_ascii_case(host),
        _ => false, // "null", other schemes, or no Host to compare with
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_own_origin_by_default() {
        let host = Some("127.0.0.1:8080");
        assert!(origin_allowed(Some("http://127.0.0.1:8080"), host, &[]));
        assert!(origin_allowed(Some("https://127.0.0.1:8080/"), host, &[]));
        assert!(
            origin_allowed(None, host, &[]),
            "non-browser clients send no Origin"
        );
        assert!(!origin_allowed(Some("http://evil.example"), host, &[]));
        assert!(!origin_allowed(Some("null"), host, &[]));
        assert!(!origin_allowed(
            Some("http://127.0.0.1:8080.evil.example"),
            host,
            &[]
        ));
        assert!(!origin_allowed(
            Some("http://evil.example/127.0.0.1:8080"),
            host,
            &[]
        ));
        assert!(!origin_allowed(Some("http://127.0.0.1:80801"), host, &[]));
        assert!(!origin_allowed(Some("file://127.0.0.1:8080"), host, &[]));
        assert!(!origin_allowed(Some("http://127.0.0.1:8080"), None, &[]));
    }

    #[test]
    fn an_allowlist_replaces_the_default() {
        let allowed = vec!["https://play.example".to_string()];
        assert!(origin_allowed(
            Some("https://PLAY.example"),
            Some("10.0.0.1"),
            &allowed
        ));
        assert!(!origin_allowed(
            Some("http://play.example"),
            Some("play.example"),
            &allowed
        ));
        assert!(!origin_allowed(
            Some("https://play.example.evil"),
            None,
            &allowed
        ));
    }

    fn limits(cap: usize) -> AddressLimits {
        AddressLimits {
            cap,
            connect_rate: 16.0,
            join_rate: 2.0,
        }
    }

    #[test]
    fn connections_and_seats_are_capped_per_address_and_freed() {
        let book = AddressBook::new(limits(2));
        let a = AddressKey::of([10, 0, 0, 1].into());
        let b = AddressKey::of([10, 0, 0, 2].into());
        let first = book.admit(a).expect("1st");
        let second = book.admit(a).expect("2nd");
        assert_eq!(book.admit(a).err(), Some(Refusal::AtCap), "3rd refused");
        assert!(book.admit(b).is_ok(), "other addresses unaffected");
        drop(first);
        assert_eq!(book.usage(a).connections, 1);
        assert!(book.admit(a).is_ok());
        drop(second);
        // Seats are counted apart from connections and outlive them.
        let seats: Vec<SeatClaim> = (0..2).map(|_| book.claim_seat(a).expect("seat")).collect();
        assert_eq!(book.claim_seat(a).err(), Some(Refusal::AtCap));
        assert_eq!(
            book.usage(a),
            Usage {
                connections: 0,
                seats: 2
            }
        );
        drop(seats);
        assert_eq!(book.usage(a), Usage::default());
    }

    #[test]
    fn a_connect_loop_runs_out_of_rate() {
        let book = AddressBook::new(limits(1_000_000));
        let a = AddressKey::of([10, 0, 0, 1].into());
        let admitted = (0..1000).filter(|_| book.admit(a).is_ok()).count();
        // The burst (4 s of 16 a second), plus whatever refilled while the loop ran.
        assert!((64..72).contains(&admitted), "{admitted}");
        assert!(book.admit(AddressKey::of([10, 0, 0, 2].into())).is_ok());
        let joins = (0..100).filter(|_| book.allow_join(a)).count();
        assert!((16..20).contains(&joins), "{joins} of 100 joins");
    }

    #[tokio::test(start_paused = true)]
    async fn bans_end() {
        let bans = Bans::default();
        let address: IpAddr = "192.0.2.7".parse().expect("ip");
        bans.ban(address, Duration::from_secs(60));
        assert!(bans.is_banned(address));
        assert!(!bans.is_banned("192.0.2.8".parse().expect("ip")));
        assert_eq!(bans.list().len(), 1);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(!bans.is_banned(address));
        assert!(bans.list().is_empty());
    }
}
