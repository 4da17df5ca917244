//! The Agones allocator client: `POST /gameserverallocation` (the REST face of
//! `allocation.AllocationService/Allocate`) over mutual TLS, as the allocator service requires
//! (<https://agones.dev/site/docs/advanced/allocator-service/>).
//!
//! Requests are built here from what the page asked, and answers read into where to connect. The
//! JSON follows `proto/allocation/allocation.proto` as protojson writes it: camelCase names, enums
//! by name, 64-bit integers as strings.

use crate::agones::{FULL_LIST, PLAYERS_LIST, ROOMS_LIST, TAG_LABEL};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use skirmish_shared::protocol::room_code;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The path of the allocation call.
pub const ALLOCATE_PATH: &str = "/gameserverallocation";

/// The label Agones puts on every `GameServer` of a fleet.
pub const FLEET_LABEL: &str = "agones.dev/fleet";

/// What a failed allocation means for the page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocateError {
    /// The allocator found no game server matching (HTTP 429, gRPC ResourceExhausted).
    #[error("no game server matches")]
    NoneMatches,
    /// The allocator could not be reached, or failed (connection, TLS, timeout, 5xx).
    #[error("the Agones allocator is unreachable: {0}")]
    Unreachable(String),
    /// The allocator refused the request itself (another 4xx: a request it does not accept).
    #[error("the Agones allocator refused the request: {0}")]
    Refused(String),
}

/// One allocated game server, as far as the directory needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Allocation {
    /// The `GameServer`'s name.
    pub game_server_name: String,
    /// Its ports.
    pub ports: Vec<AllocatedPort>,
    /// Its primary address.
    pub address: String,
    /// All its node's addresses.
    pub addresses: Vec<AllocatedAddress>,
    /// Its lists (with the CountsAndLists feature).
    pub lists: HashMap<String, ListStatus>,
}

/// A port of an [`Allocation`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AllocatedPort {
    /// The port's name in the fleet's spec.
    pub name: String,
    /// The node's port.
    pub port: u16,
}

/// An address of an [`Allocation`]'s node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AllocatedAddress {
    /// `ExternalIP`, `ExternalDNS`, `InternalIP`, `Hostname`...
    #[serde(rename = "type")]
    pub kind: String,
    /// The address.
    pub address: String,
}

/// A list's status in an [`Allocation`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ListStatus {
    /// The values.
    pub values: Vec<String>,
}

impl Allocation {
    /// The values of list `name` (empty if the answer has none).
    pub fn list(&self, name: &str) -> &[String] {
        self.lists.get(name).map_or(&[], |l| l.values.as_slice())
    }

    /// A room with a seat free: in `rooms` and not in `full`.
    pub fn room_with_a_seat(&self) -> Option<String> {
        let full = self.list(FULL_LIST);
        self.list(ROOMS_LIST)
            .iter()
            .find(|code| !full.contains(code))
            .cloned()
    }
}

/// The request for a seat in any room: an Allocated server of the fleet whose `players` list has
/// room, else a Ready one, packed (Agones packs by node first; among equals, fuller servers first).
pub fn any_seat(namespace: &str, fleet: &str) -> Value {
    let selector = |state: &str| {
        json!({
            "matchLabels": { FLEET_LABEL: fleet },
            "gameServerState": state,
            "lists": { PLAYERS_LIST: { "minAvailable": "1" } },
        })
    };
    json!({
        "namespace": namespace,
        "gameServerSelectors": [selector("ALLOCATED"), selector("READY")],
        "scheduling": "Packed",
        "priorities": [{ "type": "List", "key": PLAYERS_LIST, "order": "Ascending" }],
    })
}

/// The request for the Allocated server holding the open room `code` (canonical): its tag label
/// and its `rooms` list say so.
pub fn holding_room(namespace: &str, fleet: &str, code: &str) -> Value {
    json!({
        "namespace": namespace,
        "gameServerSelectors": [{
            "matchLabels": {
                FLEET_LABEL: fleet,
                format!("agones.dev/sdk-{TAG_LABEL}"): room_code::tag(code),
            },
            "gameServerState": "ALLOCATED",
            "lists": { ROOMS_LIST: { "containsValue": code } },
        }],
        "scheduling": "Packed",
    })
}

/// The request for an Allocated server of the fleet to watch, those with the most rooms open (the
/// fewest free places in `rooms`) first; the answer may still have none.
pub fn any_room(namespace: &str, fleet: &str) -> Value {
    json!({
        "namespace": namespace,
        "gameServerSelectors": [{
            "matchLabels": { FLEET_LABEL: fleet },
            "gameServerState": "ALLOCATED",
        }],
        "scheduling": "Packed",
        "priorities": [{ "type": "List", "key": ROOMS_LIST, "order": "Ascending" }],
    })
}

/// Where the allocator is and how to speak to it.
#[derive(Clone)]
pub struct Allocator {
    /// `host:port` to connect to.
    authority: String,
    /// The name its certificate is checked against.
    server_name: ServerName<'static>,
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for Allocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Allocator")
            .field("authority", &self.authority)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// What [`Allocator::new`] needs.
#[derive(Debug, Clone)]
pub struct AllocatorSettings<'a> {
    /// `https://host[:port]` (port 443 if none).
    pub url: &'a str,
    /// The directory's client certificate chain (PEM).
    pub cert: &'a Path,
    /// Its private key (PEM).
    pub key: &'a Path,
    /// The CA that signed the allocator's certificate (PEM).
    pub ca: &'a Path,
    /// The name to check the allocator's certificate against (default: the URL's host).
    pub server_name: Option<&'a str>,
    /// How long one allocation may take.
    pub timeout: Duration,
}

impl Allocator {
    /// Reads the certificates and builds the TLS client; an error says which file is wrong.
    pub fn new(settings: &AllocatorSettings<'_>) -> Result<Allocator, String> {
        let uri: http::Uri = settings
            .url
            .parse()
            .map_err(|e| format!("--allocator {:?}: {e}", settings.url))?;
        if uri.scheme_str() != Some("https") {
            return Err(format!(
                "{:?}: the allocator is reached over https (mutual TLS)",
                settings.url
            ));
        }
        let (Some(host), true) = (uri.host(), matches!(uri.path(), "" | "/")) else {
            return Err(format!(
                "--allocator {:?}: expected https://host[:port]",
                settings.url
            ));
        };
        // The authority's text after the host, if any, must be a port number.
        let written = uri.authority().map_or("", |a| a.as_str());
        let after_host = written
            .rsplit_once(host)
            .map_or("", |(_, rest)| rest)
            .strip_prefix(':');
        let port = match after_host {
            None => 443,
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| format!("--allocator {:?}: the port is not a number", settings.url))?,
        };
        let authority = format!("{host}:{port}");
        let name = settings
            .server_name
            .unwrap_or(host.trim_matches(['[', ']']));
        let server_name = ServerName::try_from(name.to_string()).map_err(|e| {
            format!("{name:?} is not a name a certificate can be checked against: {e}")
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(settings.ca, "--allocator-ca")? {
            roots
                .add(cert)
                .map_err(|e| format!("--allocator-ca {}: {e}", settings.ca.display()))?;
        }
        let chain = read_certs(settings.cert, "--allocator-cert")?;
        let key = PrivateKeyDer::from_pem_file(settings.key).map_err(|e| {
            format!(
                "--allocator-key {}: no usable private key: {e}",
                settings.key.display()
            )
        })?;
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("--allocator-cert and --allocator-key do not go together: {e}"))?;
        Ok(Allocator {
            authority,
            server_name,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            timeout: settings.timeout,
        })
    }

    /// Sends one allocation request.
    pub async fn allocate(&self, request: &Value) -> Result<Allocation, AllocateError> {
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect(&self.authority)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", self.authority))?;
            let _ = tcp.set_nodelay(true);
            let tls = self
                .tls
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(|e| format!("TLS with {}: {e}", self.authority))?;
            // Under TLS 1.3 an allocator that refuses the client certificate says so only after
            // the handshake, by closing the connection.
            crate::http_client::send(
                tls,
                &self.authority,
                Method::POST,
                ALLOCATE_PATH,
                Some(request.to_string().into_bytes()),
            )
            .await
            .map_err(|e| {
                format!(
                    "{e} (the allocator at {} closed the connection: does it trust \
                     --allocator-cert? Agones lists the client CAs it accepts in the Secret \
                     allocator-client-ca)",
                    self.authority
                )
            })
        };
        let (status, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                return Err(AllocateError::Unreachable(format!(
                    "no answer within {:?}",
                    self.timeout
                )))
            }
            Ok(Err(e)) => return Err(AllocateError::Unreachable(e)),
            Ok(Ok(answer)) => answer,
        };
        read_answer(status, &body)
    }
}

/// An allocator's answer: the allocation, or what its failure means.
pub fn read_answer(status: StatusCode, body: &[u8]) -> Result<Allocation, AllocateError> {
    let why = || {
        // gRPC-gateway errors are {"code": N, "message": "..."}.
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| crate::http_client::excerpt(body))
    };
    match status {
        s if s.is_success() => serde_json::from_slice(body).map_err(|e| {
            AllocateError::Unreachable(format!("an answer that is not an allocation: {e}"))
        }),
        StatusCode::TOO_MANY_REQUESTS => Err(AllocateError::NoneMatches),
        s if s.is_server_error() => Err(AllocateError::Unreachable(format!("{s}: {}", why()))),
        s => Err(AllocateError::Refused(format!("{s}: {}", why()))),
    }
}

/// The certificates in the PEM file `path`, given as `flag`.
fn read_certs(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{flag}: cannot read {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{flag} {}: no certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_follow_the_allocation_proto() {
        let any = any_seat("games", "skirmish");
        assert_eq!(any["namespace"], "games");
        assert_eq!(any["scheduling"], "Packed");
        let selectors = any["gameServerSelectors"].as_array().expect("selectors");
        assert_eq!(selectors[0]["gameServerState"], "ALLOCATED");
        assert_eq!(selectors[1]["gameServerState"], "READY");
        for selector in selectors {
            assert_eq!(selector["matchLabels"]["agones.dev/fleet"], "skirmish");
            assert_eq!(selector["lists"]["players"]["minAvailable"], "1");
        }
        let room = holding_room("games", "skirmish", "K7MPQR");
        let selector = &room["gameServerSelectors"][0];
        assert_eq!(selector["matchLabels"]["agones.dev/sdk-skirmish-tag"], "K7");
        assert_eq!(selector["lists"]["rooms"]["containsValue"], "K7MPQR");
    }

    #[test]
    fn answers_read_into_allocations_or_reasons() {
        let body = br#"{"gameServerName":"skirmish-abc","ports":[{"name":"game","port":7401}],
            "address":"10.0.0.7","addresses":[{"type":"ExternalIP","address":"10.0.0.7"}],
            "nodeName":"n1","source":"local","metadata":{"labels":{},"annotations":{}},
            "counters":{},"lists":{"rooms":{"values":["K7AAAA","K7BBBB"],"capacity":"16"},
            "full":{"values":["K7AAAA"],"capacity":"16"}}}"#;
        let allocation = read_answer(StatusCode::OK, body).expect("an allocation");
        assert_eq!(allocation.game_server_name, "skirmish-abc");
        assert_eq!(allocation.ports[0].port, 7401);
        assert_eq!(allocation.room_with_a_seat().as_deref(), Some("K7BBBB"));
        assert_eq!(
            read_answer(
                StatusCode::TOO_MANY_REQUESTS,
                br#"{"code":8,"message":"none"}"#
            ),
            Err(AllocateError::NoneMatches)
        );
        assert!(matches!(
            read_answer(StatusCode::BAD_REQUEST, br#"{"code":3,"message":"bad selector"}"#),
            Err(AllocateError::Refused(why)) if why.contains("bad selector")
        ));
        assert!(matches!(
            read_answer(StatusCode::SERVICE_UNAVAILABLE, b"upstream down"),
            Err(AllocateError::Unreachable(why)) if why.contains("upstream down")
        ));
        assert!(matches!(
            read_answer(StatusCode::OK, b"<html>"),
            Err(AllocateError::Unreachable(_))
        ));
    }

    #[test]
    fn allocator_urls_are_https_with_a_host() {
        let dir = std::env::temp_dir();
        let missing = dir.join("skirmish-no-such-file.pem");
        let settings = |url| AllocatorSettings {
            url,
            cert: &missing,
            key: &missing,
            ca: &missing,
            server_name: None,
            timeout: Duration::from_secs(1),
        };
        let error = Allocator::new(&settings("http://a:1")).expect_err("plain http");
        assert!(error.contains("https"), "{error}");
        for bad in ["https://", "https://a:1/path"] {
            let error = Allocator::new(&settings(bad)).expect_err(bad);
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
        let error = Allocator::new(&settings("https://a:x")).expect_err("bad port");
        assert!(error.contains("a:x"), "{error}");
        let error = Allocator::new(&settings("https://a:443")).expect_err("no files");
        assert!(error.contains("skirmish-no-such-file.pem"), "{error}");
    }
}
