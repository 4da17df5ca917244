//! Who may connect: per-address connection caps (checked at TCP accept, before any handshake work)
//! and the WebSocket `Origin` allowlist (checked before the upgrade).
//!
//! Browsers attach an `Origin` to every WebSocket handshake and a page on any site can open one to this
//! server, so a handshake from a foreign origin is refused with 403 (cross-site WebSocket hijacking).
//! Requests without an `Origin` come from non-browser clients (bots, native tools) and are allowed:
//! identity is the resume token inside the protocol, never a cookie.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections per client address, capped.
#[derive(Debug)]
pub struct AddressCaps {
    per_address: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; frees its address's slot when dropped.
#[derive(Debug)]
pub struct AddressSlot {
    caps: Arc<AddressCaps>,
    address: IpAddr,
}

impl AddressCaps {
    /// At most `per_address` open connections from one address.
    pub fn new(per_address: usize) -> Arc<AddressCaps> {
        Arc::new(AddressCaps {
            per_address,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection from `address`, or `None` if it already has the most allowed.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            caps: self.clone(),
            address,
        })
    }

    /// Open connections from `address`.
    pub fn open_from(&self, address: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&address).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.caps.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// The client's address: the socket's peer, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (the nearest hop the proxies
/// vouch for). A malformed header from a trusted proxy falls back to the peer.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer; // anyone can write the header: only trusted proxies are believed
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let hops: Option<Vec<IpAddr>> = header
        .split(',')
        .map(|hop| hop.trim().parse().ok())
        .collect();
    hops.and_then(|hops| hops.into_iter().rev().find(|hop| !trusted.contains(hop)))
        .unwrap_or(peer)
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

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = [10, 0, 0, 9].into();
        let other_proxy: IpAddr = [10, 0, 0, 8].into();
        let client: IpAddr = [203, 0, 113, 7].into();
        let trusted = [proxy, other_proxy];
        let xff = Some("198.51.100.1, 203.0.113.7, 10.0.0.8");
        assert_eq!(client_address(proxy, xff, &trusted), client);
        assert_eq!(
            client_address(client, xff, &trusted),
            client,
            "untrusted peers' headers are ignored"
        );
        assert_eq!(client_address(proxy, None, &trusted), proxy);
        assert_eq!(
            client_address(proxy, Some("not an address"), &trusted),
            proxy
        );
        assert_eq!(client_address(proxy, Some("10.0.0.8"), &trusted), proxy);
    }

    #[test]
    fn address_slots_are_capped_and_freed() {
        let caps = AddressCaps::new(2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = caps.admit(a).expect("1st");
        let second = caps.admit(a).expect("2nd");
        assert!(caps.admit(a).is_none(), "3rd refused");
        assert!(caps.admit(b).is_some(), "other addresses unaffected");
        drop(first);
        assert_eq!(caps.open_from(a), 1);
        assert!(caps.admit(a).is_some());
        drop(second);
    }
}
