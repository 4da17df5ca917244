//! A stand-in for the parts of Agones a fleet of Skirmish servers talks to, over real sockets on
//! loopback: one SDK sidecar per game server (plain HTTP REST) and the allocator service (REST over
//! mutual TLS). They share one fleet state, as the real sidecars and allocator share the cluster's
//! `GameServer` resources.
//!
//! Every request is recorded. Each is checked against the Agones API it imitates (paths, methods,
//! field names, enum values, label syntax, list names and capacities): one a real Agones would
//! refuse is answered 400 and kept in [`Fleet::violations`], so a test fails if the directory or a
//! server speaks something Agones would not take.
//!
//! Allocation follows Agones' rules as far as the directory uses them: selectors in order, label and
//! state matching, list `containsValue` / `minAvailable` / `maxAvailable`, and Packed scheduling
//! with list priorities (fewest available first); a server allocated goes to Allocated; none: 429.
//!
//! Also compiled into `examples/agones_standin.rs`, which the browser test runs.

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The most values an Agones list may hold.
const MAX_LIST_CAPACITY: i64 = 1000;

/// A game server's lifecycle state, as Agones names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Started, not yet Ready.
    Scheduled,
    /// Ready to be allocated.
    Ready,
    /// Allocated.
    Allocated,
    /// Shutting down: never allocated again.
    Shutdown,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Scheduled => "Scheduled",
            State::Ready => "Ready",
            State::Allocated => "Allocated",
            State::Shutdown => "Shutdown",
        }
    }
}

/// One list of a game server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List {
    /// Its capacity.
    pub capacity: i64,
    /// Its values.
    pub values: Vec<String>,
}

/// One game server of the stand-in fleet.
#[derive(Debug, Clone)]
pub struct GameServer {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// Its labels (the fleet's, and those set through the SDK).
    pub labels: BTreeMap<String, String>,
    /// Its annotations (`agones.dev/last-allocated`, set at each allocation: a counter here, a
    /// time in Agones).
    pub annotations: BTreeMap<String, String>,
    /// Its lists.
    pub lists: BTreeMap<String, List>,
    /// The game port (0 until the test says which port the server bound).
    pub port: u16,
    /// How many times the allocator handed it out.
    pub allocations: usize,
}

/// A request either side received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `allocator`, or the game server's name for its sidecar.
    pub to: String,
    /// The method.
    pub method: String,
    /// The path (with the query).
    pub path: String,
    /// The JSON body (`null` if none).
    pub body: Value,
    /// The status answered.
    pub status: u16,
}

/// The shared fleet state.
#[derive(Debug)]
pub struct Fleet {
    /// The fleet's namespace.
    pub namespace: String,
    /// The fleet's name.
    pub fleet: String,
    servers: Mutex<Vec<GameServer>>,
    requests: Mutex<Vec<Recorded>>,
    violations: Mutex<Vec<String>>,
    allocator_down: AtomicBool,
}

/// The lists every game server of the fleet declares (as the Fleet's spec does), with capacities.
pub const DECLARED_LISTS: [(&str, i64); 3] = [("players", 1000), ("rooms", 1000), ("full", 1000)];

impl Fleet {
    /// A fleet `fleet` in `namespace` with game servers named `names`, all Scheduled.
    pub fn new(namespace: &str, fleet: &str, names: &[&str]) -> Arc<Fleet> {
        let servers = names
            .iter()
            .map(|name| GameServer {
                name: name.to_string(),
                state: State::Scheduled,
                labels: BTreeMap::from([("agones.dev/fleet".to_string(), fleet.to_string())]),
                annotations: BTreeMap::new(),
                lists: DECLARED_LISTS
                    .iter()
                    .map(|(list, capacity)| {
                        (
                            list.to_string(),
                            List {
                                capacity: *capacity,
                                values: Vec::new(),
                            },
                        )
                    })
                    .collect(),
                port: 0,
                allocations: 0,
            })
            .collect();
        Arc::new(Fleet {
            namespace: namespace.to_string(),
            fleet: fleet.to_string(),
            servers: Mutex::new(servers),
            requests: Mutex::default(),
            violations: Mutex::default(),
            allocator_down: AtomicBool::new(false),
        })
    }

    /// Says which port game server `name` listens on (Agones would have assigned it).
    pub fn set_port(&self, name: &str, port: u16) {
        self.with_server(name, |gs| gs.port = port);
    }

    /// Allocates game server `name` as an allocation selecting it would (for tests that need an
    /// allocation at a given moment).
    pub fn allocate_now(&self, name: &str) {
        self.with_server(name, |gs| {
            gs.state = State::Allocated;
            gs.allocations += 1;
            gs.annotations.insert(
                "agones.dev/last-allocated".into(),
                format!("allocation {}", gs.allocations),
            );
        });
    }

    /// A copy of game server `name`.
    pub fn server(&self, name: &str) -> GameServer {
        self.with_server(name, |gs| gs.clone())
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }

    /// The requests a real Agones would have refused, and why.
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().expect("lock").clone()
    }

    /// Makes the allocator drop every connection at once (down), or serve again.
    pub fn set_allocator_down(&self, down: bool) {
        self.allocator_down.store(down, Ordering::SeqCst);
    }

    fn with_server<T>(&self, name: &str, f: impl FnOnce(&mut GameServer) -> T) -> T {
        let mut servers = self.servers.lock().expect("lock");
        let gs = servers
            .iter_mut()
            .find(|gs| gs.name == name)
            .unwrap_or_else(|| panic!("no game server {name}"));
        f(gs)
    }

    fn record(&self, to: &str, method: &Method, path: &str, body: &Value, status: StatusCode) {
        self.requests.lock().expect("lock").push(Recorded {
            to: to.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            body: body.clone(),
            status: status.as_u16(),
        });
    }

    fn violation(&self, what: String) {
        eprintln!("agones stand-in: refused: {what}");
        self.violations.lock().expect("lock").push(what);
    }
}

/// A JSON answer.
fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// A gRPC-gateway error answer (`{"code": N, "message": ...}`).
fn grpc_error(status: StatusCode, code: u32, message: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        &json!({ "code": code, "message": message, "details": [] }),
    )
}

/// Reads a request: method, path with query, JSON body (`null` when empty). `Err`: not JSON.
async fn read(request: Request<Incoming>) -> (Method, String, Result<Value, String>) {
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let json_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let body = match Limited::new(request.into_body(), 1 << 20).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return (method, path, Err(format!("unreadable body: {e}"))),
    };
    let body = if body.is_empty() {
        Ok(Value::Null)
    } else if !json_type {
        Err("a body without Content-Type: application/json".to_string())
    } else {
        serde_json::from_slice(&body).map_err(|e| format!("a body that is not JSON: {e}"))
    };
    (method, path, body)
}

/// Whether `key` is a Kubernetes label name (optional DNS-subdomain prefix, then a name of at most
/// 63 characters: alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric).
fn label_name_ok(key: &str) -> bool {
    let name = key.rsplit_once('/').map_or(key, |(prefix, name)| {
        if prefix.is_empty() || prefix.len() > 253 {
            ""
        } else {
            name
        }
    });
    label_value_ok(name) && !name.is_empty()
}

/// Whether `value` is a Kubernetes label value.
fn label_value_ok(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric())
}

/// A protojson int64: a number or a string of one.
fn int64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Checks that `object` is a JSON object with only `allowed` keys.
fn only_keys<'a>(
    object: &'a Value,
    allowed: &[&str],
    what: &str,
) -> Result<&'a Map<String, Value>, String> {
    let map = object
        .as_object()
        .ok_or_else(|| format!("{what}: not an object"))?;
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(format!("{what}: unknown field {key:?}"));
        }
    }
    Ok(map)
}

// ---------------------------------------------------------------------------------------------
// The SDK sidecar

/// Starts the sidecar of game server `name` on 127.0.0.1:0; returns its `http://` URL.
pub async fn start_sidecar(fleet: Arc<Fleet>, name: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let name = name.to_string();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (fleet, name) = (fleet.clone(), name.clone());
            let service = service_fn(move |request| {
                let (fleet, name) = (fleet.clone(), name.clone());
                async move { Ok::<_, std::convert::Infallible>(sidecar(&fleet, &name, request).await) }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

async fn sidecar(fleet: &Fleet, name: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (method, path, body) = read(request).await;
    let recorded = body.clone().unwrap_or(Value::Null);
    let answer = match body {
        Err(why) => Err((StatusCode::BAD_REQUEST, why)),
        Ok(body) => sdk_call(fleet, name, &method, &path, &body),
    };
    let status = match &answer {
        Ok(_) => StatusCode::OK,
        Err((status, _)) => *status,
    };
    fleet.record(name, &method, &path, &recorded, status);
    match answer {
        Ok(value) => reply(status, &value),
        Err((status, why)) => {
            fleet.violation(format!("sidecar {name}: {method} {path}: {why}"));
            grpc_error(status, 3, &why)
        }
    }
}

/// One SDK REST call, as the sidecar answers it.
fn sdk_call(
    fleet: &Fleet,
    name: &str,
    method: &Method,
    path: &str,
    body: &Value,
) -> Result<Value, (StatusCode, String)> {
    let bad = |why: String| (StatusCode::BAD_REQUEST, why);
    let empty_body = |body: &Value| -> Result<(), (StatusCode, String)> {
        match body {
            Value::Null => Ok(()),
            Value::Object(map) if map.is_empty() => Ok(()),
            other => Err(bad(format!("expected {{}}, got {other}"))),
        }
    };
    match (method.as_str(), path) {
        ("POST", "/ready") => {
            empty_body(body)?;
            fleet.with_server(name, |gs| {
                if gs.state != State::Shutdown {
                    gs.state = State::Ready;
                }
            });
            Ok(json!({}))
        }
        ("POST", "/allocate") => {
            empty_body(body)?;
            fleet.with_server(name, |gs| {
                if gs.state != State::Shutdown {
                    gs.state = State::Allocated;
                }
            });
            Ok(json!({}))
        }
        ("POST", "/shutdown") => {
            empty_body(body)?;
            fleet.with_server(name, |gs| gs.state = State::Shutdown);
            Ok(json!({}))
        }
        ("POST", "/health") => {
            empty_body(body)?;
            Ok(json!({}))
        }
        ("PUT", "/metadata/label") | ("PUT", "/metadata/annotation") => {
            let map = only_keys(body, &["key", "value"], path).map_err(bad)?;
            let key = map.get("key").and_then(Value::as_str).unwrap_or_default();
            let value = map.get("value").and_then(Value::as_str).unwrap_or_default();
            let label = format!("agones.dev/sdk-{key}");
            if path == "/metadata/label" && !(label_name_ok(&label) && label_value_ok(value)) {
                return Err(bad(format!("{label}={value:?} is not a valid label")));
            }
            fleet.with_server(name, |gs| {
                if path == "/metadata/label" {
                    gs.labels.insert(label, value.to_string())
                } else {
                    gs.annotations
                        .insert(format!("agones.dev/sdk-{key}"), value.to_string())
                }
            });
            Ok(json!({}))
        }
        ("GET", "/gameserver") => Ok(fleet.with_server(name, |gs| {
            json!({
                "object_meta": { "name": gs.name, "namespace": fleet.namespace, "labels": gs.labels,
                                 "annotations": gs.annotations },
                "status": { "state": gs.state.name(), "address": "127.0.0.1",
                            "ports": [{ "name": "game", "port": gs.port }] },
            })
        })),
        (_, path) if path.starts_with("/v1beta1/lists/") => {
            let rest = &path["/v1beta1/lists/".len()..];
            let (list, action) = rest.split_once(':').unwrap_or((rest, ""));
            list_call(fleet, name, method.as_str(), list, action, body)
        }
        // The stand-in's own control call (not Agones): the game server's port.
        ("PUT", "/standin/port") => {
            let port = body["port"].as_u64().and_then(|p| u16::try_from(p).ok());
            let port = port.ok_or_else(|| bad("expected {\"port\": N}".into()))?;
            fleet.set_port(name, port);
            Ok(json!({}))
        }
        _ => Err((
            StatusCode::NOT_FOUND,
            "no such SDK call (see the Agones REST SDK reference)".into(),
        )),
    }
}

/// `/v1beta1/lists/NAME` calls: GET, PATCH (capacity and/or values), `:addValue`, `:removeValue`.
fn list_call(
    fleet: &Fleet,
    name: &str,
    method: &str,
    list: &str,
    action: &str,
    body: &Value,
) -> Result<Value, (StatusCode, String)> {
    let bad = |why: String| (StatusCode::BAD_REQUEST, why);
    fleet.with_server(name, |gs| {
        let Some(current) = gs.lists.get_mut(list) else {
            return Err((
                StatusCode::NOT_FOUND,
                format!("list {list:?} is not declared in the fleet's spec"),
            ));
        };
        match (method, action) {
            ("GET", "") => {}
            ("PATCH", "") => {
                let map = only_keys(body, &["name", "capacity", "values"], "List").map_err(bad)?;
                if map.get("name").is_some_and(|n| n != list) {
                    return Err(bad(format!("body names another list than {list:?}")));
                }
                if let Some(capacity) = map.get("capacity") {
                    let capacity = int64(capacity)
                        .filter(|c| (0..=MAX_LIST_CAPACITY).contains(c))
                        .ok_or_else(|| bad(format!("capacity {capacity} is not 0..=1000")))?;
                    current.capacity = capacity;
                }
                if let Some(values) = map.get("values") {
                    let values: Vec<String> = values
                        .as_array()
                        .and_then(|v| v.iter().map(|s| s.as_str().map(String::from)).collect())
                        .ok_or_else(|| bad("values must be strings".into()))?;
                    let mut unique = values.clone();
                    unique.sort();
                    unique.dedup();
                    if unique.len() != values.len() {
                        return Err(bad("values repeat".into()));
                    }
                    if values.len() as i64 > current.capacity {
                        return Err(bad(format!(
                            "{} values over the capacity {}",
                            values.len(),
                            current.capacity
                        )));
                    }
                    current.values = values;
                }
            }
            ("POST", "addValue") | ("POST", "removeValue") => {
                let map = only_keys(body, &["name", "value"], "ListValue").map_err(bad)?;
                let value = map.get("value").and_then(Value::as_str).unwrap_or_default();
                let present = current.values.iter().position(|v| v == value);
                match (action, present) {
                    ("addValue", Some(_)) => {
                        return Err((StatusCode::CONFLICT, "already in the list".into()))
                    }
                    ("addValue", None) if current.values.len() as i64 >= current.capacity => {
                        return Err(bad("the list is at capacity".into()))
                    }
                    ("addValue", None) => current.values.push(value.to_string()),
                    (_, Some(i)) => {
                        current.values.remove(i);
                    }
                    (_, None) => return Err((StatusCode::NOT_FOUND, "not in the list".into())),
                }
            }
            _ => return Err((StatusCode::NOT_FOUND, "no such list call".into())),
        }
        Ok(json!({
            "name": list, "capacity": current.capacity.to_string(), "values": current.values,
        }))
    })
}

// ---------------------------------------------------------------------------------------------
// The allocator

/// PEM files a test hands the directory, and the allocator's TLS settings.
pub struct Certificates {
    /// The CA that signed the allocator's certificate (the directory's `--allocator-ca`).
    pub allocator_ca_pem: String,
    /// The directory's client certificate and key.
    pub client_cert_pem: String,
    /// The client key.
    pub client_key_pem: String,
    /// A client certificate and key from a CA the allocator does not trust.
    pub stranger_cert_pem: String,
    /// Its key.
    pub stranger_key_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl Certificates {
    /// Writes the PEM files into `dir`: allocator-ca.pem, client.pem, client-key.pem,
    /// stranger.pem, stranger-key.pem.
    pub fn write_to(&self, dir: &std::path::Path) {
        for (file, text) in [
            ("allocator-ca.pem", &self.allocator_ca_pem),
            ("client.pem", &self.client_cert_pem),
            ("client-key.pem", &self.client_key_pem),
            ("stranger.pem", &self.stranger_cert_pem),
            ("stranger-key.pem", &self.stranger_key_pem),
        ] {
            std::fs::write(dir.join(file), text).expect("writes a PEM file");
        }
    }
}

/// Makes a CA for the allocator's certificate (for `localhost`), a CA for client certificates, a
/// client certificate it signs, and one signed by a CA nobody trusts.
pub fn certificates() -> Certificates {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("a CA")
    };
    let leaf = |names: Vec<String>, issuer: &CertifiedIssuer<'_, KeyPair>| {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(names).expect("params");
        let cert = params.signed_by(&key, issuer).expect("signed");
        (cert, key)
    };
    let server_ca = ca("stand-in allocator CA");
    let client_ca = ca("stand-in allocator client CA");
    let stranger_ca = ca("a CA the allocator does not trust");
    let (server_cert, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()], &server_ca);
    let (client_cert, client_key) = leaf(vec!["skirmish-directory".into()], &client_ca);
    let (stranger_cert, stranger_key) = leaf(vec!["skirmish-directory".into()], &stranger_ca);
    let mut client_roots = rustls::RootCertStore::empty();
    client_roots.add(client_ca.der().clone()).expect("a root");
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(client_roots))
        .build()
        .expect("a client verifier");
    let server = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server_cert.der().clone(), server_ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .expect("the allocator's TLS config");
    let _: &CertificateDer<'_> = client_cert.der();
    Certificates {
        allocator_ca_pem: server_ca.pem(),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
        stranger_cert_pem: stranger_cert.pem(),
        stranger_key_pem: stranger_key.serialize_pem(),
        server: Arc::new(server),
    }
}

/// Starts the allocator on 127.0.0.1:0 with mutual TLS; returns its `https://localhost:PORT` URL.
pub async fn start_allocator(fleet: Arc<Fleet>, certificates: &Certificates) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("addr").port();
    let acceptor = tokio_rustls::TlsAcceptor::from(certificates.server.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            if fleet.allocator_down.load(Ordering::SeqCst) {
                drop(stream); // down: the connection is closed before TLS
                continue;
            }
            let (fleet, acceptor) = (fleet.clone(), acceptor.clone());
            tokio::spawn(async move {
                // A client without a certificate the allocator trusts fails here, as with Agones.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |request| {
                    let fleet = fleet.clone();
                    async move { Ok::<_, std::convert::Infallible>(allocator(&fleet, request).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    format!("https://localhost:{port}")
}

async fn allocator(fleet: &Fleet, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (method, path, body) = read(request).await;
    let checked = match (&method, path.as_str(), body) {
        (&Method::POST, "/gameserverallocation", Ok(body)) => match check_request(fleet, &body) {
            Ok(()) => Ok(body),
            Err(why) => Err((body, why)),
        },
        (_, _, Ok(body)) => Err((body, "only POST /gameserverallocation is served".into())),
        (_, _, Err(why)) => Err((Value::Null, why)),
    };
    match checked {
        Err((body, why)) => {
            fleet.record("allocator", &method, &path, &body, StatusCode::BAD_REQUEST);
            fleet.violation(format!("allocator: {method} {path}: {why}"));
            grpc_error(StatusCode::BAD_REQUEST, 3, &why)
        }
        Ok(body) => {
            let answer = allocate(fleet, &body);
            let status = if answer.is_some() {
                StatusCode::OK
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            fleet.record("allocator", &method, &path, &body, status);
            match answer {
                Some(allocation) => reply(StatusCode::OK, &allocation),
                None => grpc_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    8,
                    "there is no available GameServer to allocate",
                ),
            }
        }
    }
}

/// Checks an `AllocationRequest` against allocation.proto (and what Agones validates).
fn check_request(fleet: &Fleet, body: &Value) -> Result<(), String> {
    let request = only_keys(
        body,
        &[
            "namespace",
            "multiClusterSetting",
            "requiredGameServerSelector",
            "preferredGameServerSelectors",
            "scheduling",
            "metaPatch",
            "metadata",
            "gameServerSelectors",
            "priorities",
            "counters",
            "lists",
        ],
        "AllocationRequest",
    )?;
    let namespace = request.get("namespace").and_then(Value::as_str);
    if namespace != Some(fleet.namespace.as_str()) {
        return Err(format!(
            "namespace {namespace:?}: the fleet is in {:?}",
            fleet.namespace
        ));
    }
    if let Some(scheduling) = request.get("scheduling") {
        if !["Packed", "Distributed"].contains(&scheduling.as_str().unwrap_or_default()) {
            return Err(format!("scheduling {scheduling}: Packed or Distributed"));
        }
    }
    let selectors = request
        .get("gameServerSelectors")
        .and_then(Value::as_array)
        .ok_or("gameServerSelectors: expected a list (the deprecated fields are not used)")?;
    if selectors.is_empty() {
        return Err("gameServerSelectors: empty".into());
    }
    for selector in selectors {
        let selector = only_keys(
            selector,
            &[
                "matchLabels",
                "gameServerState",
                "players",
                "counters",
                "lists",
            ],
            "GameServerSelector",
        )?;
        if let Some(labels) = selector.get("matchLabels") {
            for (key, value) in labels.as_object().ok_or("matchLabels: not a map")? {
                let value = value.as_str().unwrap_or("\u{0}");
                if !label_name_ok(key) || !label_value_ok(value) {
                    return Err(format!("matchLabels {key}={value:?}: not a valid label"));
                }
            }
        }
        if let Some(state) = selector.get("gameServerState") {
            if !["READY", "ALLOCATED"].contains(&state.as_str().unwrap_or_default()) {
                return Err(format!("gameServerState {state}: READY or ALLOCATED"));
            }
        }
        if let Some(lists) = selector.get("lists") {
            for (name, list) in lists.as_object().ok_or("lists: not a map")? {
                declared(name)?;
                let list = only_keys(
                    list,
                    &["containsValue", "minAvailable", "maxAvailable"],
                    "ListSelector",
                )?;
                for key in ["minAvailable", "maxAvailable"] {
                    if list.get(key).is_some_and(|v| int64(v).is_none()) {
                        return Err(format!("lists.{name}.{key}: not an int64"));
                    }
                }
            }
        }
        if selector.contains_key("counters") {
            return Err("counters: the fleet declares no counters".into());
        }
    }
    for priority in request
        .get("priorities")
        .map(|p| p.as_array().cloned().ok_or("priorities: not a list"))
        .transpose()?
        .unwrap_or_default()
    {
        let priority = only_keys(&priority, &["type", "key", "order"], "Priority")?;
        let kind = priority
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("Counter");
        let order = priority
            .get("order")
            .and_then(Value::as_str)
            .unwrap_or("Ascending");
        if kind != "List" || !["Ascending", "Descending"].contains(&order) {
            return Err(format!(
                "priority {priority:?}: a List priority is expected"
            ));
        }
        declared(
            priority
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )?;
    }
    Ok(())
}

fn declared(list: &str) -> Result<(), String> {
    if DECLARED_LISTS.iter().any(|(name, _)| *name == list) {
        Ok(())
    } else {
        Err(format!("list {list:?} is not declared in the fleet's spec"))
    }
}

/// Allocates per the request (already checked); the protojson `AllocationResponse`, or `None`.
fn allocate(fleet: &Fleet, request: &Value) -> Option<Value> {
    let mut servers = fleet.servers.lock().expect("lock");
    let priority = request["priorities"][0]["key"].as_str().map(str::to_string);
    let ascending = request["priorities"][0]["order"].as_str() != Some("Descending");
    for selector in request["gameServerSelectors"].as_array()? {
        let state = match selector["gameServerState"].as_str().unwrap_or("READY") {
            "ALLOCATED" => State::Allocated,
            _ => State::Ready,
        };
        let mut candidates: Vec<usize> = (0..servers.len())
            .filter(|&i| matches(&servers[i], state, selector))
            .collect();
        // Packed: fewest available in the priority list first (or most, Descending); then by name.
        let available = |gs: &GameServer| {
            priority
                .as_deref()
                .and_then(|list| gs.lists.get(list))
                .map_or(0, |l| l.capacity - l.values.len() as i64)
        };
        candidates.sort_by(|&a, &b| {
            let (a, b) = (&servers[a], &servers[b]);
            let order = available(a).cmp(&available(b));
            let order = if ascending { order } else { order.reverse() };
            order.then_with(|| a.name.cmp(&b.name))
        });
        if let Some(&chosen) = candidates.first() {
            let gs = &mut servers[chosen];
            let name = gs.name.clone();
            drop(servers);
            fleet.allocate_now(&name);
            let servers = fleet.servers.lock().expect("lock");
            let gs = servers.iter().find(|gs| gs.name == name)?;
            let lists: Map<String, Value> = gs
                .lists
                .iter()
                .map(|(name, list)| {
                    (
                        name.clone(),
                        json!({ "values": list.values, "capacity": list.capacity.to_string() }),
                    )
                })
                .collect();
            return Some(json!({
                "gameServerName": gs.name,
                "ports": [{ "name": "game", "port": gs.port }],
                "address": "127.0.0.1",
                "addresses": [{ "type": "InternalIP", "address": "127.0.0.1" }],
                "nodeName": "stand-in-node",
                "source": "local",
                "metadata": { "labels": gs.labels, "annotations": gs.annotations },
                "counters": {},
                "lists": lists,
            }));
        }
    }
    None
}

/// Whether `gs` is in `state` and matches `selector`'s labels and lists.
fn matches(gs: &GameServer, state: State, selector: &Value) -> bool {
    if gs.state != state || gs.port == 0 {
        return false;
    }
    let labels_match = selector["matchLabels"].as_object().is_none_or(|labels| {
        labels
            .iter()
            .all(|(k, v)| gs.labels.get(k).map(String::as_str) == v.as_str())
    });
    let lists_match = selector["lists"].as_object().is_none_or(|lists| {
        lists.iter().all(|(name, wanted)| {
            let Some(list) = gs.lists.get(name) else {
                return false;
            };
            let available = list.capacity - list.values.len() as i64;
            let contains = wanted["containsValue"]
                .as_str()
                .is_none_or(|v| v.is_empty() || list.values.iter().any(|x| x == v));
            let min = int64(&wanted["minAvailable"]).is_none_or(|m| available >= m);
            let max = int64(&wanted["maxAvailable"]).is_none_or(|m| m == 0 || available <= m);
            contains && min && max
        })
    });
    labels_match && lists_match
}
