//! Reading a server's `/metrics` page over plain HTTP.

use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fetches `/metrics` from `addr` (`host:port`) and returns each series line's value by its full name
/// (labels included).
pub async fn scrape(addr: &str) -> anyhow::Result<HashMap<String, f64>> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .ok_or_else(|| anyhow::anyhow!("no HTTP body"))?;
    Ok(parse(body))
}

/// Parses Prometheus text lines into name → value.
pub fn parse(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_series_with_labels() {
        let m = super::parse("# HELP x y\nx_total 3\nh_bucket{le=\"0.5\"} 2\n");
        assert_eq!(m["x_total"], 3.0);
        assert_eq!(m["h_bucket{le=\"0.5\"}"], 2.0);
    }

    #[test]
    fn parses_the_connection_gauges_as_the_server_writes_them() {
        let body = "# HELP skirmish_connected_players Players currently in a room.\n\
            # TYPE skirmish_connected_players gauge\n\
            skirmish_connected_players 1984\n\
            # HELP skirmish_open_connections Open TCP connections (HTTP and WebSocket).\n\
            # TYPE skirmish_open_connections gauge\n\
            skirmish_open_connections 1985\n\
            skirmish_slow_reader_disconnects_total 16\n\
            skirmish_disconnects_total{reason=\"too_slow\"} 16\n";
        let m = super::parse(body);
        assert_eq!(m["skirmish_connected_players"], 1984.0);
        assert_eq!(m["skirmish_open_connections"], 1985.0);
        assert_eq!(m["skirmish_slow_reader_disconnects_total"], 16.0);
        assert_eq!(m["skirmish_disconnects_total{reason=\"too_slow\"}"], 16.0);
        assert_eq!(m.len(), 4, "comment lines are not series");
    }
}
