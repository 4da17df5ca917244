//! Client addresses, decided once per connection: canonical form, the key that caps, bans and rate
//! limits count by, and who the client is when a trusted proxy forwarded the connection.
//!
//! Every address the server compares goes through here first:
//! - an IPv4 client of a server bound to `[::]` arrives as `::ffff:a.b.c.d`; it is the IPv4 address
//!   (so `--trusted-proxy 127.0.0.1` and a ban on `127.0.0.1` match it);
//! - one IPv6 subscriber usually holds a whole /64, so caps, bans and rate limits count an IPv6
//!   client by its /64 ([`AddressKey`]);
//! - behind `--trusted-proxy`, the client is found by walking the forwarding header from the right
//!   past the trusted hops ([`Proxies::client`]); a header that cannot be read is refused, never
//!   replaced by the proxy's own address.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

/// An address in canonical form: IPv4-mapped IPv6 addresses become IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// What caps, bans and rate limits count by: the canonical IPv4 address, or the IPv6 /64 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AddressKey(IpAddr);

/// Prefix length an IPv6 client is counted by.
pub const IPV6_KEY_PREFIX: u8 = 64;

impl AddressKey {
    /// The key of a client address.
    pub fn of(ip: IpAddr) -> AddressKey {
        match canonical(ip) {
            IpAddr::V4(v4) => AddressKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => AddressKey(IpAddr::V6(mask_v6(v6, IPV6_KEY_PREFIX))),
        }
    }

    /// The address (for IPv6, the first address of the /64).
    pub fn ip(self) -> IpAddr {
        self.0
    }
}

impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/{IPV6_KEY_PREFIX}"),
        }
    }
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let bits = u128::from(ip);
    let mask = match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    };
    Ipv6Addr::from(bits & mask)
}

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or one address (`10.0.0.9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// Whether `ip` (canonicalised) is in this range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, canonical(ip)) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = match self.prefix {
                    0 => 0,
                    p => u32::MAX << (32 - u32::from(p)),
                };
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                mask_v6(base, self.prefix) == mask_v6(ip, self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Network, String> {
        let (address, prefix) = match s.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s.trim(), None),
        };
        let base: IpAddr = address
            .parse()
            .map_err(|_| format!("{s:?} is not an address or address/prefix"))?;
        let base = canonical(base);
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix must be 0..={max}"))?,
        };
        Ok(Network { base, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Which header a trusted proxy states the client's address in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (HAProxy's `option forwardfor`, nginx, most load
    /// balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name, lower case.
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

/// Why a forwarded request was refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardedError {
    /// A hop in the header is not an address (the header is garbled, or was written by a client
    /// the proxy did not overwrite).
    #[error("{header}: {hop:?} is not an address")]
    Malformed {
        /// The header's name.
        header: &'static str,
        /// The unreadable element, as sent (cut to 64 bytes).
        hop: String,
    },
}

/// The reverse proxies whose forwarding header is believed, and which header that is.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// The trusted proxies' addresses or ranges.
    pub trusted: Vec<Network>,
    /// The header they write.
    pub header: ForwardedHeader,
}

impl Proxies {
    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }

    /// The client of a request from `peer` with `headers`: [`Proxies::client`] on every line of
    /// the forwarding header (a line that is not text reads as unreadable).
    pub fn client_of(
        &self,
        peer: IpAddr,
        headers: &http::HeaderMap,
    ) -> Result<IpAddr, ForwardedError> {
        let lines = headers
            .get_all(self.header.name())
            .iter()
            .map(|value| value.to_str().unwrap_or("\u{fffd}"));
        self.client(peer, lines)
    }

    /// The client of a request from `peer` whose forwarding header lines (every line of
    /// [`Proxies::header`], in order) are `lines`, canonicalised.
    ///
    /// A peer that is not a trusted proxy is the client: anyone can write the header. From a trusted
    /// proxy, all lines are joined into one list and walked from the right (the nearest hop) past
    /// trusted proxies; the first hop that is not trusted is the client. If every hop is trusted,
    /// the left-most is. A trusted proxy that sent no header is itself the client. A hop that must
    /// be read and is not an address refuses the request: falling back to the proxy's address would
    /// let a banned client in as the proxy.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<IpAddr, ForwardedError> {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return Ok(peer);
        }
        let lines: Vec<&str> = lines.into_iter().collect();
        if lines.is_empty() {
            return Ok(peer);
        }
        let hops: Vec<&str> = lines.iter().flat_map(|line| line.split(',')).collect();
        let header = self.header.name();
        let malformed = |hop: &str| ForwardedError::Malformed {
            header,
            hop: hop.chars().take(64).collect(),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            let address = match self.header {
                ForwardedHeader::XForwardedFor => parse_hop(hop.trim()),
                ForwardedHeader::Forwarded => forwarded_for(hop),
            }
            .ok_or_else(|| malformed(hop))?;
            client = canonical(address);
            if !self.trusts(client) {
                break;
            }
        }
        Ok(client)
    }
}

/// One hop of `X-Forwarded-For`, or the value of a `Forwarded` `for=`: `203.0.113.7`,
/// `203.0.113.7:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok
            .then(|| inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6))
            .flatten();
    }
    let (address, port) = hop.rsplit_once(':')?;
    let v4: std::net::Ipv4Addr = address.parse().ok()?;
    is_port(port).then_some(IpAddr::V4(v4))
}

fn is_port(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u16>().is_ok()
}

/// The address in one RFC 7239 element's `for=` parameter (`for=192.0.2.60;proto=https`,
/// `for="[2001:db8:cafe::17]:4711"`). Obfuscated identifiers (`for=_hidden`, `for=unknown`) are not
/// addresses.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let value = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then_some(value.trim())
    })?;
    let value = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => value,
    };
    parse_hop(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn proxies(trusted: &[&str], header: ForwardedHeader) -> Proxies {
        Proxies {
            trusted: trusted
                .iter()
                .map(|t| t.parse().expect("network"))
                .collect(),
            header,
        }
    }

    #[test]
    fn mapped_addresses_and_v6_networks_share_a_key() {
        assert_eq!(AddressKey::of(ip("::ffff:127.0.0.1")).ip(), ip("127.0.0.1"));
        let a = AddressKey::of(ip("2001:db8:1:2:aaaa::1"));
        let b = AddressKey::of(ip("2001:db8:1:2:bbbb::9"));
        let other = AddressKey::of(ip("2001:db8:1:3::1"));
        assert_eq!(a, b, "one /64");
        assert_ne!(a, other);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn networks_contain_their_addresses() {
        let net: Network = "10.0.0.0/8".parse().expect("parses");
        assert!(net.contains(ip("10.200.1.1")));
        assert!(net.contains(ip("::ffff:10.0.0.1")), "mapped form");
        assert!(!net.contains(ip("11.0.0.1")));
        let one: Network = "127.0.0.1".parse().expect("parses");
        assert!(one.contains(ip("::ffff:127.0.0.1")));
        assert!(!one.contains(ip("127.0.0.2")));
        let v6: Network = "2001:db8::/32".parse().expect("parses");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("nonsense".parse::<Network>().is_err());
        let all: Network = "0.0.0.0/0".parse().expect("parses");
        assert!(all.contains(ip("203.0.113.7")));
    }

    #[test]
    fn every_header_line_is_one_list_walked_from_the_right() {
        let p = proxies(&["10.0.0.9", "10.0.0.8"], ForwardedHeader::XForwardedFor);
        let proxy = ip("10.0.0.9");
        // The client wrote its own header; the proxy appended a second line with the real peer.
        let lines = ["198.51.100.1", "203.0.113.7"];
        assert_eq!(p.client(proxy, lines), Ok(ip("203.0.113.7")));
        assert_eq!(
            p.client(proxy, ["198.51.100.1, 203.0.113.7, 10.0.0.8"]),
            Ok(ip("203.0.113.7"))
        );
        assert_eq!(
            p.client(proxy, ["10.0.0.8"]),
            Ok(ip("10.0.0.8")),
            "all hops trusted: the left-most"
        );
        assert_eq!(p.client(proxy, []), Ok(proxy), "no header: the proxy");
        assert_eq!(
            p.client(ip("203.0.113.9"), ["1.2.3.4"]),
            Ok(ip("203.0.113.9")),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            p.client(ip("::ffff:10.0.0.9"), ["::ffff:203.0.113.7"]),
            Ok(ip("203.0.113.7")),
            "mapped proxy and client"
        );
        // Hops with ports, or bracketed.
        assert_eq!(p.client(proxy, ["203.0.113.7:4711"]), Ok(ip("203.0.113.7")));
        assert_eq!(p.client(proxy, ["[2001:db8::1]:80"]), Ok(ip("2001:db8::1")));
        assert_eq!(p.client(proxy, ["[2001:db8::1]"]), Ok(ip("2001:db8::1")));
        // Left of the client is the client's own writing and is not read.
        assert_eq!(
            p.client(proxy, ["garbage, 203.0.113.7"]),
            Ok(ip("203.0.113.7"))
        );
    }

    #[test]
    fn a_header_that_cannot_be_read_is_refused_not_replaced_by_the_proxy() {
        let p = proxies(&["10.0.0.9"], ForwardedHeader::XForwardedFor);
        let proxy = ip("10.0.0.9");
        for bad in [
            "203.0.113.7, garbage",
            "203.0.113.7,",
            "",
            "  ",
            "203.0.113.7:99999",
            "[2001:db8::1",
            "unknown",
            "203.0.113.7 10.0.0.1",
        ] {
            assert!(p.client(proxy, [bad]).is_err(), "{bad:?}");
        }
        assert!(
            p.client(proxy, ["203.0.113.7", ""]).is_err(),
            "empty last line"
        );
    }

    #[test]
    fn rfc_7239_forwarded_elements() {
        let p = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let proxy = ip("10.1.1.1");
        assert_eq!(
            p.client(proxy, ["for=192.0.2.60;proto=http;by=203.0.113.43"]),
            Ok(ip("192.0.2.60"))
        );
        assert_eq!(
            p.client(
                proxy,
                ["for=198.51.100.17, For=\"[2001:db8:cafe::17]:4711\""]
            ),
            Ok(ip("2001:db8:cafe::17"))
        );
        assert_eq!(
            p.client(proxy, ["for=192.0.2.60", "for=10.2.2.2"]),
            Ok(ip("192.0.2.60"))
        );
        assert!(p.client(proxy, ["for=unknown"]).is_err());
        assert!(p.client(proxy, ["proto=https"]).is_err());
    }
}
