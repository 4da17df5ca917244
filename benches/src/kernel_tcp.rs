//! What the Linux kernel holds for TCP, read from `/proc` without touching any socket: the memory
//! all TCP sockets have charged (`/proc/net/sockstat`) and, per IPv4 socket, its state and queued
//! bytes (`/proc/net/tcp`). Used to measure what players that stop reading cost a server.
//!
//! Both files are plain text; the parsers take the text so they can be tested without a kernel.

use std::net::{Ipv4Addr, SocketAddrV4};

/// The page size `/proc/net/sockstat` counts TCP memory in on the machines we measure on (x86-64
/// and most arm64 Linux kernels).
pub const PAGE_SIZE: u64 = 4096;

/// The `TCP:` line of `/proc/net/sockstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SockstatTcp {
    /// Sockets in use (not closed), in this network namespace.
    pub inuse: u64,
    /// Sockets the application has closed that the kernel still holds (unsent data, FIN not yet
    /// acknowledged), in this network namespace.
    pub orphan: u64,
    /// Pages charged by every TCP socket (send and receive queues). The counter is the kernel's
    /// global one (`tcp_memory_allocated`), so it also sees other namespaces' sockets.
    pub mem_pages: u64,
}

impl SockstatTcp {
    /// `mem_pages` in megabytes (10^6 bytes) of `page_size`-byte pages.
    pub fn mem_mb(&self, page_size: u64) -> f64 {
        (self.mem_pages * page_size) as f64 / 1e6
    }
}

/// Parses the `TCP:` line of `/proc/net/sockstat` (`TCP: inuse 3 orphan 0 tw 0 alloc 5 mem 84`);
/// `None` when there is no such line or it has no `mem` field.
pub fn parse_sockstat(text: &str) -> Option<SockstatTcp> {
    let fields = text.lines().find_map(|line| line.strip_prefix("TCP:"))?;
    let words: Vec<&str> = fields.split_whitespace().collect();
    let field = |key: &str| -> Option<u64> {
        words
            .chunks_exact(2)
            .find(|pair| pair[0] == key)
            .and_then(|pair| pair[1].parse().ok())
    };
    Some(SockstatTcp {
        inuse: field("inuse").unwrap_or(0),
        orphan: field("orphan").unwrap_or(0),
        mem_pages: field("mem")?,
    })
}

/// A TCP state as `/proc/net/tcp` numbers it (`include/net/tcp_states.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    /// 0x01.
    Established,
    /// 0x04, 0x05: this end closed and has not finished (`FIN_WAIT1` still holds unsent data).
    FinWait,
    /// 0x08: the peer closed (its FIN arrived); this end has not.
    CloseWait,
    /// 0x0A.
    Listen,
    /// Any other state (handshakes, `TIME_WAIT`, `LAST_ACK`, `CLOSING`).
    Other,
}

impl TcpState {
    fn from_hex(code: u8) -> TcpState {
        match code {
            0x01 => TcpState::Established,
            0x04 | 0x05 => TcpState::FinWait,
            0x08 => TcpState::CloseWait,
            0x0A => TcpState::Listen,
            _ => TcpState::Other,
        }
    }
}

/// One row of `/proc/net/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSocket {
    /// This end's address.
    pub local: SocketAddrV4,
    /// The peer's address.
    pub remote: SocketAddrV4,
    /// The connection's state.
    pub state: TcpState,
    /// Bytes written and not yet acknowledged by the peer (sent or still queued).
    pub tx_queue: u64,
    /// Bytes received and not yet read by the application.
    pub rx_queue: u64,
}

/// Parses `/proc/net/tcp` (IPv4 sockets; the header and malformed rows are skipped).
pub fn parse_proc_net_tcp(text: &str) -> Vec<TcpSocket> {
    text.lines().filter_map(parse_tcp_row).collect()
}

/// One row: `sl local rem st tx_queue:rx_queue ...`, addresses as `0100007F:1F90`.
fn parse_tcp_row(line: &str) -> Option<TcpSocket> {
    let mut words = line.split_whitespace();
    words.next()?.strip_suffix(':')?; // the slot number
    let local = parse_hex_addr(words.next()?)?;
    let remote = parse_hex_addr(words.next()?)?;
    let state = TcpState::from_hex(u8::from_str_radix(words.next()?, 16).ok()?);
    let (tx, rx) = words.next()?.split_once(':')?;
    Some(TcpSocket {
        local,
        remote,
        state,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
    })
}

/// `0100007F:1F90` is 127.0.0.1:8080: the kernel prints the address's four bytes as one native-endian
/// word, and the port in the usual order.
fn parse_hex_addr(text: &str) -> Option<SocketAddrV4> {
    let (ip, port) = text.split_once(':')?;
    if ip.len() != 8 {
        return None;
    }
    let word = u32::from_str_radix(ip, 16).ok()?;
    Some(SocketAddrV4::new(
        Ipv4Addr::from(word.to_ne_bytes()),
        u16::from_str_radix(port, 16).ok()?,
    ))
}

/// The connections of one server, both ends, as the kernel sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ServerSockets {
    /// Server ends still established.
    pub server_established: u64,
    /// Server ends the server has closed that the kernel still holds (`FIN_WAIT1/2`): their data
    /// has not all been taken by the peer.
    pub server_closing: u64,
    /// Server ends in other states (not counting the listener).
    pub server_other: u64,
    /// Bytes the server's ends have queued and the peers have not acknowledged.
    pub server_send_queue_bytes: u64,
    /// Client ends (peers of the server's address) in any state.
    pub client_sockets: u64,
    /// Client ends whose peer's FIN has arrived (`CLOSE_WAIT`).
    pub client_close_wait: u64,
    /// Bytes the client ends have received and not read.
    pub client_receive_queue_bytes: u64,
}

impl ServerSockets {
    /// Sorts `sockets` into the server ends (local address `server`) and the client ends (remote
    /// address `server`).
    pub fn of(server: SocketAddrV4, sockets: &[TcpSocket]) -> ServerSockets {
        let mut out = ServerSockets::default();
        for socket in sockets {
            if socket.local == server {
                match socket.state {
                    TcpState::Listen => continue,
                    TcpState::Established => out.server_established += 1,
                    TcpState::FinWait => out.server_closing += 1,
                    TcpState::CloseWait | TcpState::Other => out.server_other += 1,
                }
                out.server_send_queue_bytes += socket.tx_queue;
            } else if socket.remote == server {
                out.client_sockets += 1;
                if socket.state == TcpState::CloseWait {
                    out.client_close_wait += 1;
                }
                out.client_receive_queue_bytes += socket.rx_queue;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOCKSTAT: &str = "sockets: used 4021\n\
        TCP: inuse 4003 orphan 12 tw 3 alloc 4010 mem 57730\n\
        UDP: inuse 0 mem 0\n\
        UDPLITE: inuse 0\n";

    #[test]
    fn sockstat_tcp_line_gives_pages_and_orphans() {
        let tcp = parse_sockstat(SOCKSTAT).expect("TCP line");
        assert_eq!(
            tcp,
            SockstatTcp {
                inuse: 4003,
                orphan: 12,
                mem_pages: 57730
            }
        );
        // 57,730 pages of 4 KiB is 236.5 MB.
        assert!((tcp.mem_mb(PAGE_SIZE) - 236.46).abs() < 0.01);
        // The UDP line's mem is not taken for TCP's.
        assert_eq!(parse_sockstat("UDP: inuse 0 mem 9\n"), None);
        assert_eq!(parse_sockstat("TCP: inuse 1 orphan 0\n"), None);
        assert_eq!(parse_sockstat("TCP: inuse 1 mem x\n"), None);
    }

    const PROC_NET_TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:A000 01 0000F000:00000000 01:00000014 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:A000 0100007F:1F90 01 00000000:00010000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:A001 04 00001000:00000000 01:00000014 00000000     0        0 0 1 0 20 4 30 10 -1
   4: 0100007F:A001 0100007F:1F90 08 00000000:00000010 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1
   5: 0100007F:9000 0100007F:0016 01 00000005:00000007 00:00000000 00000000     0        0 6 1 0 20 4 30 10 -1
   6: garbage
";

    #[test]
    fn proc_net_tcp_rows_parse_and_sort_into_server_and_client_ends() {
        let sockets = parse_proc_net_tcp(PROC_NET_TCP);
        assert_eq!(sockets.len(), 6, "header and garbage skipped");
        let server: SocketAddrV4 = "127.0.0.1:8080".parse().expect("addr");
        assert_eq!(sockets[0].local, server);
        assert_eq!(sockets[0].state, TcpState::Listen);
        assert_eq!(sockets[1].remote, "127.0.0.1:40960".parse().expect("addr"));
        assert_eq!((sockets[1].tx_queue, sockets[1].rx_queue), (0xF000, 0));
        let ends = ServerSockets::of(server, &sockets);
        assert_eq!(
            ends,
            ServerSockets {
                server_established: 1,
                server_closing: 1,
                server_other: 0,
                server_send_queue_bytes: 0xF000 + 0x1000,
                client_sockets: 2,
                client_close_wait: 1,
                client_receive_queue_bytes: 0x10000 + 0x10,
            }
        );
    }

    #[test]
    fn addresses_are_native_endian_words() {
        let addr = parse_hex_addr("0100007F:1F90").expect("addr");
        if cfg!(target_endian = "little") {
            assert_eq!(addr, "127.0.0.1:8080".parse().expect("addr"));
        }
        assert_eq!(parse_hex_addr("7F:1F90"), None);
        assert_eq!(parse_hex_addr("0100007F"), None);
    }
}
