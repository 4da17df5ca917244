//! The Agones stand-in of the integration tests as a program, for the browser test and for trying
//! `skirmish-directory` by hand without a cluster: an allocator (mutual TLS) and one SDK sidecar
//! per named game server, sharing one fleet state.
//!
//! ```text
//! cargo run -p skirmish-server --example agones_standin -- DIR NAME...
//! ```
//!
//! Writes the certificates into DIR (allocator-ca.pem, client.pem, client-key.pem) and prints one
//! JSON line: `{"allocator": URL, "sidecars": {NAME: URL, ...}}`. Start each game server with
//! `--agones --agones-sdk-url SIDECAR`, tell its sidecar its port (`PUT SIDECAR/standin/port`
//! `{"port": N}`), and the directory with `--allocator URL` and the certificates. Runs until its
//! standard input closes.

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
    certificates.write_to(std::path::Path::new(&dir));
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
