//! What a replay costs on disk: reads replay files and prints, for each, its bytes per minute (the
//! file's size over the time from its first frame to its last, `Replay::duration_ms`), its frames and
//! keyframes, and where the bytes go (header, frame heads, keyframe and delta payloads, and within
//! the payloads the entities entered, the updates, the entities that left and the events).
//!
//! `cargo run --release -p skirmish-bench --example replay_size -- FILE_OR_DIR...`
//!
//! With `--json`, one JSON object per file on stdout instead of the text.

use skirmish_shared::codec::encode_append;
use skirmish_shared::replay::{Replay, FRAME_HEAD};
use std::path::{Path, PathBuf};

fn size<T: serde::Serialize>(value: &T) -> usize {
    let mut out = Vec::new();
    encode_append(value, &mut out);
    out.len()
}

/// Payload bytes of one kind of frame, by section.
#[derive(Debug, Default, serde::Serialize)]
struct Sections {
    frames: usize,
    payload: usize,
    entered: usize,
    updated: usize,
    left: usize,
    events: usize,
    entities_entered: usize,
    players_updated: usize,
}

impl Sections {
    fn mean(&self, bytes: usize) -> f64 {
        bytes as f64 / self.frames.max(1) as f64
    }
}

/// The figures of one file.
#[derive(Debug, serde::Serialize)]
struct FileFigures {
    path: String,
    file_bytes: usize,
    header_bytes: usize,
    frame_head_bytes: usize,
    trailing_bytes: usize,
    duration_ms: u64,
    bytes_per_minute: f64,
    feed_rate: u16,
    tick_rate: u16,
    players_at_start: usize,
    frames: usize,
    keyframes: Sections,
    deltas: Sections,
    undecodable_frames: usize,
}

fn figures(path: &Path) -> Result<FileFigures, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let replay = Replay::parse(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut keyframes, mut deltas) = (Sections::default(), Sections::default());
    let mut undecodable = 0;
    let mut payloads = 0;
    for (index, frame) in replay.frames().iter().enumerate() {
        let payload = replay.payload(index).map_or(0, <[u8]>::len);
        payloads += payload;
        let sections = if frame.keyframe {
            &mut keyframes
        } else {
            &mut deltas
        };
        sections.frames += 1;
        sections.payload += payload;
        match replay.snapshot(index) {
            Ok(snapshot) => {
                sections.entered += size(&snapshot.entered);
                sections.updated += size(&snapshot.updated);
                sections.left += size(&snapshot.left);
                sections.events += size(&snapshot.events);
                sections.entities_entered += snapshot.entered.len();
                sections.players_updated += snapshot.updated.len();
            }
            Err(_) => undecodable += 1,
        }
    }
    let frames = replay.frames().len();
    let frame_head_bytes = frames * FRAME_HEAD;
    let file_bytes = replay.len_bytes();
    let trailing_bytes = replay.trailing_bytes();
    let header_bytes = file_bytes - trailing_bytes - frame_head_bytes - payloads;
    let duration_ms = replay.duration_ms();
    let header = replay.header();
    Ok(FileFigures {
        path: path.display().to_string(),
        file_bytes,
        header_bytes,
        frame_head_bytes,
        trailing_bytes,
        duration_ms,
        bytes_per_minute: if duration_ms > 0 {
            file_bytes as f64 * 60_000.0 / duration_ms as f64
        } else {
            0.0
        },
        feed_rate: header.feed_rate,
        tick_rate: header.tick_rate,
        players_at_start: header.players.len(),
        frames,
        keyframes,
        deltas,
        undecodable_frames: undecodable,
    })
}

fn print(f: &FileFigures) {
    println!("{}", f.path);
    println!(
        "  {} bytes over {:.1} s: {:.0} bytes/min ({:.3} MB/min) | feed {} Hz at {} ticks/s | {} players at the start",
        f.file_bytes,
        f.duration_ms as f64 / 1000.0,
        f.bytes_per_minute,
        f.bytes_per_minute / 1e6,
        f.feed_rate,
        f.tick_rate,
        f.players_at_start
    );
    println!(
        "  header {} B, frame heads {} B ({} frames x {FRAME_HEAD}), trailing {} B, undecodable frames {}",
        f.header_bytes, f.frame_head_bytes, f.frames, f.trailing_bytes, f.undecodable_frames
    );
    for (name, s) in [("keyframes", &f.keyframes), ("deltas", &f.deltas)] {
        println!(
            "  {name}: {} frames, {} payload bytes ({:.1}% of the file), mean {:.0} B: entered {:.0} B ({:.1} entities), updated {:.0} B ({:.1} players), left {:.0} B, events {:.0} B",
            s.frames,
            s.payload,
            s.payload as f64 * 100.0 / f.file_bytes.max(1) as f64,
            s.mean(s.payload),
            s.mean(s.entered),
            s.entities_entered as f64 / s.frames.max(1) as f64,
            s.mean(s.updated),
            s.players_updated as f64 / s.frames.max(1) as f64,
            s.mean(s.left),
            s.mean(s.events),
        );
    }
}

fn main() {
    let mut json = false;
    let mut paths: Vec<PathBuf> = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--json" {
            json = true;
            continue;
        }
        let path = PathBuf::from(arg);
        match std::fs::read_dir(&path) {
            Ok(entries) => {
                let mut files: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.to_str()
                            .is_some_and(|s| s.ends_with(skirmish_shared::replay::FILE_SUFFIX))
                    })
                    .collect();
                files.sort();
                paths.extend(files);
            }
            Err(_) => paths.push(path),
        }
    }
    if paths.is_empty() {
        eprintln!("usage: replay_size [--json] FILE_OR_DIR...");
        std::process::exit(2);
    }
    let mut failed = false;
    for path in &paths {
        match figures(path) {
            Ok(f) if json => match serde_json::to_string(&f) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("{}: {e}", f.path);
                    failed = true;
                }
            },
            Ok(f) => print(&f),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
