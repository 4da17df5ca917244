//! Recording replays: every room's broadcast feed, appended to a file in `--replay-dir` by one
//! writer thread, and the listing `/api/replays` serves.
//!
//! A room's [`Recording`] hands each feed frame (already encoded, shared with the spectators) to the
//! writer over a bounded channel and never waits: if the disk falls so far behind that the channel
//! is full, the frame is dropped and the recording resumes at the next keyframe, at most 5 s on (the
//! file stays playable; the gap is counted and logged). The writer appends each frame whole with one write, so
//! a process killed while recording leaves a file that plays up to its last complete frame
//! (`skirmish_shared::replay`).
//!
//! Files are named `ID.skreplay`, the id being the start time in UTC, the room's code and the part
//! number (`20261126-071500-K7MPQR-1`): a room that lives long is split into parts of at most
//! [`PART_MINUTES`], each starting at a keyframe with a header of its own. Beside each finished file
//! the writer leaves `ID.json`, its summary for the listing; a file without one (its recording was
//! cut short by a crash) is read once when listed, and the summary written then. After each file it
//! opens, and every [`RETENTION_CHECK_BYTES`] written, the writer deletes the oldest finished files
//! until the folder is within `--replay-retention`'s count and bytes.

use crate::config::ReplaySettings;
use crate::metrics::Metrics;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use skirmish_shared::codec::decode_server;
use skirmish_shared::protocol::{GameEvent, ServerMsg};
use skirmish_shared::replay::{self, Replay, ReplayHeader, FILE_SUFFIX};
use skirmish_shared::time::Tick;
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest part of a room's recording, in minutes: a room that lives longer is recorded into more
/// files, so each stays a size a browser can load and retention can delete.
pub const PART_MINUTES: u32 = 30;

/// Frames the writer's channel holds (several seconds of every room's feed).
const CHANNEL_FRAMES: usize = 4096;

/// Bytes written between two retention checks.
const RETENTION_CHECK_BYTES: u64 = 8 << 20;

/// Longest replay id accepted in a request.
const MAX_ID_CHARS: usize = 64;

/// A replay, as `/api/replays` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayInfo {
    /// The id (`GET /api/replays/ID` serves the file; the page plays it at `/?replay=ID`).
    pub id: String,
    /// The code of the room recorded.
    pub room: String,
    /// When the recording started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// From the first frame to the last.
    pub duration_ms: u64,
    /// Everyone who played in it, in the order they were first seen.
    pub players: Vec<String>,
    /// The file's size.
    pub bytes: u64,
    /// Still being recorded.
    pub recording: bool,
}

/// The replays listed by `/api/replays`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayList {
    /// Newest first.
    pub replays: Vec<ReplayInfo>,
}

enum Message {
    Open { key: u64, header: Box<ReplayHeader> },
    Frame { key: u64, frame: FrameData },
    Close { key: u64 },
    Flush(std::sync::mpsc::Sender<()>),
}

struct FrameData {
    tick: Tick,
    keyframe: bool,
    bytes: Bytes,
}

/// The replay writer: one thread for the whole server.
#[derive(Debug)]
pub struct Recorder {
    settings: ReplaySettings,
    sender: Mutex<Option<SyncSender<Message>>>,
    /// Summaries of the files being written, by id.
    open: Arc<Mutex<HashMap<String, ReplayInfo>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    next_key: AtomicU64,
    metrics: Arc<Metrics>,
    /// Held while a listing runs.
    listing: Mutex<()>,
    /// Finished files' summaries (or `None`: not a readable replay), by id, with the length and
    /// modification time they were read at.
    known: Mutex<KnownFiles>,
}

/// What a listing found of each finished file.
type KnownFiles = HashMap<String, ((u64, Option<SystemTime>), Option<ReplayInfo>)>;

/// One room's recording: hand it each feed frame.
#[derive(Debug)]
pub struct Recording {
    key: u64,
    sender: SyncSender<Message>,
    metrics: Arc<Metrics>,
    /// A frame was dropped (or the recording just started): deltas wait for the next keyframe.
    needs_keyframe: bool,
    /// The writer has stopped: nothing more is recorded.
    stopped: bool,
}

impl Recording {
    /// Records a frame. Never waits: a frame the writer has no room for is dropped, and the
    /// recording resumes at the next keyframe.
    pub fn frame(&mut self, tick: Tick, keyframe: bool, bytes: &Bytes) {
        if self.stopped || (self.needs_keyframe && !keyframe) {
            return;
        }
        let frame = FrameData {
            tick,
            keyframe,
            bytes: bytes.clone(),
        };
        match self.sender.try_send(Message::Frame {
            key: self.key,
            frame,
        }) {
            Ok(()) => self.needs_keyframe = false,
            Err(TrySendError::Full(_)) => {
                if !self.needs_keyframe {
                    tracing::warn!("replay writer behind: frames dropped until the next keyframe");
                }
                self.metrics.replay_frames_dropped.fetch_add(1, Relaxed);
                self.needs_keyframe = true;
            }
            Err(TrySendError::Disconnected(_)) => self.stopped = true,
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        // The writer closes the file; if its channel is full, a blocking send is worth the wait
        // (a room closes once).
        let _ = self.sender.send(Message::Close { key: self.key });
    }
}

impl Recorder {
    /// Starts the writer for `settings.dir` (created if missing).
    pub fn start(settings: ReplaySettings, metrics: Arc<Metrics>) -> std::io::Result<Recorder> {
        std::fs::create_dir_all(&settings.dir)?;
        let (sender, receiver) = sync_channel(CHANNEL_FRAMES);
        let open = Arc::new(Mutex::new(HashMap::new()));
        let writer = Writer {
            settings: settings.clone(),
            files: HashMap::new(),
            open: open.clone(),
            metrics: metrics.clone(),
            written_since_check: 0,
        };
        let thread = std::thread::Builder::new()
            .name("replay-writer".into())
            .spawn(move || writer.run(receiver))?;
        Ok(Recorder {
            settings,
            sender: Mutex::new(Some(sender)),
            open,
            thread: Mutex::new(Some(thread)),
            next_key: AtomicU64::new(1),
            metrics,
            listing: Mutex::new(()),
            known: Mutex::new(HashMap::new()),
        })
    }

    /// The folder replays are written to.
    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }

    /// Starts recording a room; its first frame must be a keyframe.
    pub fn record(&self, header: ReplayHeader) -> Option<Recording> {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let key = self.next_key.fetch_add(1, Relaxed);
        sender
            .send(Message::Open {
                key,
                header: Box::new(header),
            })
            .ok()?;
        Some(Recording {
            key,
            sender,
            metrics: self.metrics.clone(),
            needs_keyframe: true,
            stopped: false,
        })
    }

    /// Waits until every frame handed over so far is written (for tests and shutdown).
    pub fn flush(&self) {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(sender) = sender {
            let (done, wait) = std::sync::mpsc::channel();
            if sender.send(Message::Flush(done)).is_ok() {
                let _ = wait.recv();
            }
        }
    }

    /// Stops the writer once every recording has closed (rooms close theirs as they stop), and
    /// waits for it to finish its files.
    pub fn finish(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }

    /// The replays in the folder, newest first. Reads the folder, and any file that has no summary
    /// (left by a crash, or put there by hand) once: what it found, listable or not, is remembered
    /// by the file's length and modification time, so a bad file costs one read, not one per
    /// listing. One listing runs at a time (others wait and find the cache filled). Call it off the
    /// async threads.
    pub fn list(&self) -> ReplayList {
        let _one_at_a_time = self.listing.lock().unwrap_or_else(|p| p.into_inner());
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let files = replay_files(&self.settings.dir);
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.retain(|id, _| files.iter().any(|file| &file.id == id));
        let mut replays: Vec<ReplayInfo> = files
            .into_iter()
            .filter_map(|file| {
                if let Some(info) = open.get(&file.id) {
                    return Some(ReplayInfo {
                        bytes: file.len,
                        ..info.clone()
                    });
                }
                let stamp = (file.len, file.modified);
                match known.get(&file.id) {
                    Some((seen, info)) if *seen == stamp => info.clone(),
                    _ => {
                        let info = summary(&file);
                        known.insert(file.id.clone(), (stamp, info.clone()));
                        info
                    }
                }
            })
            .collect();
        replays.sort_by(|a, b| (b.started_unix_ms, &b.id).cmp(&(a.started_unix_ms, &a.id)));
        ReplayList { replays }
    }

    /// The file of replay `id`, if the id is well formed and names a regular file in the folder
    /// (never a symbolic link, which could point anywhere).
    pub fn path_of(&self, id: &str) -> Option<PathBuf> {
        let valid = !id.is_empty()
            && id.len() <= MAX_ID_CHARS
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return None;
        }
        let path = self.settings.dir.join(format!("{id}{FILE_SUFFIX}"));
        regular_file(&path).then_some(path)
    }
}

/// Whether `path` is a regular file itself (not a symbolic link to one).
fn regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_file())
}

/// A replay file found in the folder.
struct ReplayFile {
    id: String,
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

/// The replay files in `dir` (regular files named `ID.skreplay`; symbolic links are left out), in no
/// particular order.
fn replay_files(dir: &Path) -> Vec<ReplayFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let id = name.strip_suffix(FILE_SUFFIX)?.to_string();
            // `DirEntry::metadata` does not follow symbolic links.
            let meta = entry.metadata().ok()?;
            meta.file_type().is_file().then(|| ReplayFile {
                id,
                path: entry.path(),
                len: meta.len(),
                modified: meta.modified().ok(),
            })
        })
        .collect()
}

fn summary_path(path: &Path) -> PathBuf {
    path.with_extension("json")
}

/// Largest summary read, in bytes (a real one is well under 10 KiB).
const MAX_SUMMARY_BYTES: u64 = 64 << 10;

/// Largest replay file read to make a summary for (a 30-minute part of a 64-player room is a few
/// tens of MB); a larger one without a summary is not listed.
const MAX_SUMMARIZED_BYTES: u64 = 256 << 20;

/// Most player names a listing gives for one replay.
const MAX_LISTED_PLAYERS: usize = 100;

/// Reads a regular file of at most `max` bytes.
fn read_capped(path: &Path, max: u64) -> Option<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.file_type().is_file() || meta.len() > max {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(File::open(path).ok()?, max),
        &mut bytes,
    )
    .ok()?;
    Some(bytes)
}

/// A finished file's summary: from its `ID.json` if that describes the file as it is, else read
/// from the file (and written down for next time). `None` for a file that is not a readable replay.
fn summary(file: &ReplayFile) -> Option<ReplayInfo> {
    let (id, path, len) = (&file.id, &file.path, file.len);
    let side = summary_path(path);
    if let Some(info) = read_capped(&side, MAX_SUMMARY_BYTES)
        .and_then(|bytes| serde_json::from_slice::<ReplayInfo>(&bytes).ok())
        .filter(|info| info.bytes == len && &info.id == id)
    {
        return Some(info);
    }
    let replay = Replay::parse(read_capped(path, MAX_SUMMARIZED_BYTES)?)
        .inspect_err(|e| tracing::debug!(id, "not listed: {e}"))
        .ok()?;
    let mut players: Vec<String> = replay
        .players()
        .map(|players| players.into_iter().map(|p| p.name).collect())
        .unwrap_or_default();
    players.truncate(MAX_LISTED_PLAYERS);
    let info = ReplayInfo {
        id: id.clone(),
        room: replay.header().room_code.clone(),
        started_unix_ms: replay.header().started_unix_ms,
        duration_ms: replay.duration_ms(),
        players,
        bytes: len,
        recording: false,
    };
    write_summary(&side, &info);
    Some(info)
}

/// Writes a summary beside its file: to a fresh temporary file first (created, never opened if it
/// exists, so a link planted there is not followed), then renamed over the summary, so a reader never
/// sees half of one.
fn write_summary(side: &Path, info: &ReplayInfo) {
    let Ok(json) = serde_json::to_vec(info) else {
        return;
    };
    let temporary = side.with_extension(format!("json.{:016x}.tmp", crate::secret::random_u64()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .and_then(|mut file| file.write_all(&json))
        .and_then(|()| std::fs::rename(&temporary, side));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
        tracing::debug!(path = %side.display(), "could not write a replay summary");
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `YYYYMMDD-HHMMSS` in UTC for a time in milliseconds since the Unix epoch.
fn utc_stamp(unix_ms: u64) -> String {
    let seconds = unix_ms / 1000;
    let days = (seconds / 86_400) as i64;
    let of_day = seconds % 86_400;
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// One file being written.
struct OpenFile {
    file: File,
    path: PathBuf,
    header: ReplayHeader,
    info: ReplayInfo,
    first_tick: Option<Tick>,
}

/// The writer thread's state.
struct Writer {
    settings: ReplaySettings,
    /// Open files by recording key (`None`: the recording failed and is ignored until closed).
    files: HashMap<u64, Option<OpenFile>>,
    open: Arc<Mutex<HashMap<String, ReplayInfo>>>,
    metrics: Arc<Metrics>,
    written_since_check: u64,
}

impl Writer {
    fn run(mut self, receiver: Receiver<Message>) {
        while let Ok(message) = receiver.recv() {
            match message {
                Message::Open { key, header } => {
                    let file = self.create(*header, 1);
                    self.files.insert(key, file);
                    self.enforce_retention();
                }
                Message::Frame { key, frame } => self.frame(key, frame),
                Message::Close { key } => {
                    if let Some(Some(file)) = self.files.remove(&key) {
                        self.finish(file);
                    }
                }
                Message::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
        for (_, file) in std::mem::take(&mut self.files) {
            if let Some(file) = file {
                self.finish(file);
            }
        }
    }

    /// Creates part `part` of a recording with `header` (its start time set to now).
    fn create(&mut self, mut header: ReplayHeader, part: u32) -> Option<OpenFile> {
        header.part = part;
        header.started_unix_ms = unix_ms_now();
        let base = format!(
            "{}-{}-{part}",
            utc_stamp(header.started_unix_ms),
            header.room_code
        );
        let created = (0..100).find_map(|n| {
            let id = if n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let path = self.settings.dir.join(format!("{id}{FILE_SUFFIX}"));
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path);
            match file {
                Ok(file) => Some(Ok((id, path, file))),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        });
        let (id, path, mut file) = match created {
            Some(Ok(created)) => created,
            Some(Err(e)) => {
                tracing::warn!(dir = %self.settings.dir.display(), "cannot record a replay: {e}");
                self.metrics.replay_write_errors.fetch_add(1, Relaxed);
                return None;
            }
            None => return None,
        };
        let mut bytes = Vec::new();
        replay::write_header(&header, &mut bytes);
        if let Err(e) = file.write_all(&bytes) {
            tracing::warn!(path = %path.display(), "cannot record a replay: {e}");
            self.metrics.replay_write_errors.fetch_add(1, Relaxed);
            return None;
        }
        let info = ReplayInfo {
            id: id.clone(),
            room: header.room_code.clone(),
            started_unix_ms: header.started_unix_ms,
            duration_ms: 0,
            players: header.players.iter().map(|p| p.name.clone()).collect(),
            bytes: bytes.len() as u64,
            recording: true,
        };
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), info.clone());
        self.metrics.replays_recording.fetch_add(1, Relaxed);
        tracing::info!(%id, "recording a replay");
        Some(OpenFile {
            file,
            path,
            header,
            info,
            first_tick: None,
        })
    }

    fn frame(&mut self, key: u64, frame: FrameData) {
        let Some(Some(open)) = self.files.get_mut(&key) else {
            return;
        };
        let tick_rate = u32::from(open.header.tick_rate.max(1));
        let part_ticks = PART_MINUTES * 60 * tick_rate;
        let full = open
            .first_tick
            .is_some_and(|first| frame.tick.since(first) >= part_ticks);
        if full && frame.keyframe {
            // Start the next part here, at a keyframe.
            let Some(Some(done)) = self.files.remove(&key) else {
                return;
            };
            let (header, part) = (done.header.clone(), done.header.part + 1);
            self.finish(done);
            let next = self.create(header, part);
            self.files.insert(key, next);
            self.enforce_retention();
            return self.frame(key, frame);
        }
        let mut bytes = Vec::with_capacity(frame.bytes.len() + replay::FRAME_HEAD);
        replay::write_frame(frame.tick, frame.keyframe, &frame.bytes, &mut bytes);
        if let Err(e) = open.file.write_all(&bytes) {
            tracing::warn!(path = %open.path.display(), "replay recording stopped: {e}");
            self.metrics.replay_write_errors.fetch_add(1, Relaxed);
            if let Some(Some(failed)) = self.files.insert(key, None) {
                self.finish(failed);
            }
            return;
        }
        self.metrics
            .replay_bytes_written
            .fetch_add(bytes.len() as u64, Relaxed);
        self.written_since_check += bytes.len() as u64;
        let first = *open.first_tick.get_or_insert(frame.tick);
        let info = &mut open.info;
        info.bytes += bytes.len() as u64;
        info.duration_ms = u64::from(frame.tick.since(first)) * 1000 / u64::from(tick_rate);
        if let Ok(ServerMsg::Snapshot(snapshot)) = decode_server(&frame.bytes) {
            for event in &snapshot.events {
                let mut add = |name: &String| {
                    if info.players.len() < MAX_LISTED_PLAYERS && !info.players.contains(name) {
                        info.players.push(name.clone());
                    }
                };
                match event {
                    GameEvent::Roster(entries) => entries.iter().for_each(|e| add(&e.name)),
                    GameEvent::PlayerJoined(entry) => add(&entry.name),
                    _ => {}
                }
            }
        }
        let info = info.clone();
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(info.id.clone(), info);
        if self.written_since_check >= RETENTION_CHECK_BYTES {
            self.enforce_retention();
        }
    }

    /// Closes a file: its summary is written beside it and it leaves the open list.
    fn finish(&mut self, open: OpenFile) {
        let OpenFile {
            file,
            path,
            mut info,
            first_tick,
            ..
        } = open;
        if let Err(e) = file.sync_all() {
            tracing::debug!(path = %path.display(), "replay sync: {e}");
        }
        drop(file);
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&info.id);
        self.metrics.replays_recording.fetch_sub(1, Relaxed);
        if first_tick.is_none()
            || info.duration_ms < u64::try_from(self.settings.min_duration.as_millis()).unwrap_or(0)
        {
            // The room closed before its first frame, or within --replay-min-seconds: not a match
            // worth keeping (and rooms opened and left in a loop cannot push real replays out).
            let _ = std::fs::remove_file(&path);
            tracing::debug!(id = %info.id, "replay too short to keep");
            return;
        }
        info.recording = false;
        if let Ok(meta) = std::fs::metadata(&path) {
            info.bytes = meta.len();
        }
        write_summary(&summary_path(&path), &info);
        tracing::info!(id = %info.id, bytes = info.bytes, duration_ms = info.duration_ms, "replay recorded");
    }

    /// Deletes the oldest finished replays until the folder is within the retention's count and
    /// bytes. Files being written are never deleted (each is bounded by [`PART_MINUTES`]).
    fn enforce_retention(&mut self) {
        self.written_since_check = 0;
        let open: Vec<String> = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        let mut files = replay_files(&self.settings.dir);
        // Ids begin with their UTC start time: name order is age order.
        files.sort_by(|a, b| a.id.cmp(&b.id));
        let mut count = files.len();
        let mut bytes: u64 = files.iter().map(|f| f.len).sum();
        for ReplayFile { id, path, len, .. } in files {
            if count <= self.settings.max_count && bytes <= self.settings.max_bytes {
                break;
            }
            if open.contains(&id) {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(summary_path(&path));
                    count -= 1;
                    bytes = bytes.saturating_sub(len);
                    self.metrics.replays_deleted.fetch_add(1, Relaxed);
                    tracing::info!(%id, "replay deleted to keep within --replay-retention");
                }
                Err(e) => tracing::warn!(%id, "cannot delete an old replay: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(name: &str) -> (Recorder, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "skirmish-recorder-{}-{name}-{:x}",
            std::process::id(),
            crate::secret::random_u64()
        ));
        let settings = ReplaySettings {
            dir: dir.clone(),
            max_count: 10,
            max_bytes: 1 << 30,
            min_duration: std::time::Duration::ZERO,
        };
        let recorder = Recorder::start(settings, Arc::default()).expect("starts");
        (recorder, dir)
    }

    #[cfg(unix)]
    #[test]
    fn links_in_the_folder_are_never_followed() {
        let (recorder, dir) = recorder("links");
        let secret = dir.join("secret.txt");
        std::fs::write(&secret, "not a replay").expect("write");
        std::os::unix::fs::symlink(&secret, dir.join(format!("leak{FILE_SUFFIX}"))).expect("link");
        assert_eq!(recorder.path_of("leak"), None, "a link is not served");
        assert!(recorder.list().replays.is_empty(), "nor listed");
        // A summary is written through a fresh temporary file: a link planted where a fixed
        // temporary name would be is left alone.
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "untouched").expect("write");
        let side = dir.join("x.json");
        std::os::unix::fs::symlink(&victim, side.with_extension("json.tmp")).expect("link");
        let info = ReplayInfo {
            id: "x".into(),
            room: "K7MPQR".into(),
            started_unix_ms: 0,
            duration_ms: 0,
            players: Vec::new(),
            bytes: 0,
            recording: false,
        };
        write_summary(&side, &info);
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "untouched");
        assert!(side.is_file());
        recorder.finish();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_file_that_is_no_replay_is_read_once_and_not_listed() {
        let (recorder, dir) = recorder("garbage");
        std::fs::write(dir.join(format!("junk{FILE_SUFFIX}")), vec![0u8; 4096]).expect("write");
        assert!(recorder.list().replays.is_empty());
        let known = recorder.known.lock().expect("lock").clone();
        assert!(
            matches!(known.get("junk"), Some((_, None))),
            "remembered as unlistable"
        );
        // Its id is served as a file all the same (it is in the folder), for whoever wants it.
        assert!(recorder.path_of("junk").is_some());
        assert!(recorder.path_of("../junk").is_none());
        recorder.finish();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn stamps_are_utc_civil_times() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400_000), "20000229-000000");
        // 2026-11-26T07:15:00Z.
        assert_eq!(utc_stamp(1_795_677_300_000), "20261126-071500");
        assert_eq!(utc_stamp(1_795_677_300_999), "20261126-071500");
    }
}
