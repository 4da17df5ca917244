//! The Agones stand-in of the integration tests as a program, for the browser test and for trying
//! `skirmish-directory` by hand without a cluster: an allocator (mutual TLS) and one SDK sidecar
//! per named game server, sharing one fleet (`skirmish` in namespace `default`).
//!
//! ```text
//! cargo run -p skirmish-server --example agones_standin -- DIR NAME...
//! ```
//!
//! Writes the certificates into DIR (made if missing: allocator-ca.pem, client.pem,
//! client-key.pem) and prints one JSON line: `{"allocator": URL, "sidecars": {NAME: URL, ...}}`.
//! It runs until its standard input closes, so start it from a terminal, or feed it a pipe that
//! stays open (`sleep infinity | agones_standin ...`); it exits 1 if it refused any request as
//! Agones would. Then, to play through it in a browser on this machine:
//!
//! ```text
//! skirmish-directory --bind 127.0.0.1:8000 --allocator ALLOCATOR \
//!     --allocator-cert DIR/client.pem --allocator-key DIR/client-key.pem \
//!     --allocator-ca DIR/allocator-ca.pem --game-scheme ws    # no TLS on the game servers here
//! skirmish-server --bind 127.0.0.1:0 --agones --agones-sdk-url SIDECAR --room-tag AA \
//!     --allowed-origin http://127.0.0.1:8000                 # the page's origin: the directory
//! curl -X PUT SIDECAR/standin/port -H 'content-type: application/json' -d '{"port": PORT}'
//! ```
//!
//! (the last line tells the stand-in the port the game server logged, as Agones would have
//! assigned it), and open <http://127.0.0.1:8000/>.

#[allow(dead_code)]
#[path = "../tests/support/agones_standin.rs"]
mod agones_standin;

use std::io::Read;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), names) = (args.next(), args.collect::<Vec<_>>()) else {
        eprintln!("usage: agones_standin DIR NAME...");
        std::process::exit(2);
    };
    if names.is_empty() {
        eprintln!("usage: agones_standin DIR NAME... (at least one game server)");
        std::process::exit(2);
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let fleet = agones_standin::Fleet::new("default", "skirmish", &names);
    let certificates = agones_standin::certificates();
    let dir = std::path::Path::new(&dir);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("agones_standin: cannot make {}: {e}", dir.display());
        std::process::exit(2);
    }
    certificates.write_to(dir);
    let allocator = agones_standin::start_allocator(fleet.clone(), &certificates).await;
    let mut sidecars = serde_json::Map::new();
    for name in &names {
        let url = agones_standin::start_sidecar(fleet.clone(), name).await;
        sidecars.insert(name.to_string(), url.into());
    }
    println!(
        "{}",
        serde_json::json!({ "allocator": allocator, "sidecars": sidecars })
    );
    // Until standard input closes (the test that started it ended).
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await;
    let violations = fleet.violations();
    if !violations.is_empty() {
        eprintln!("agones stand-in: {} refused requests", violations.len());
        std::process::exit(1);
    }
}
