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
}
