//! The Olm key exchange of a whole room: N participants of the sans-I/O core in one process
//! (N = 2, 10, 50, 100, 200), relayed to each other through an in-process MUC that delivers
//! private messages and presence in the order they were sent. Three phases, each run until
//! nothing moves: everyone joined and enabled E2EE (sessions, then everyone's key to everyone);
//! one leaves (the others rotate); one joins (the others ratchet, and it gets sessions and keys).
//! Each phase ends with a check that everyone holds everyone's current key (and nobody the key
//! of the one who left). Measures time, messages, and the heap the participants hold.
//!
//! Beside it, in the same run, `benches/scale/olm-reference.mjs` runs lib-jitsi-meet's own
//! OlmAdapter through the same phases in Node, up to the largest N it finishes within its time
//! budget (`SCALE_REFERENCE_BUDGET_S`, default 240 s). It needs Node, npm and `../shared/olm`
//! (the reference and the oracle that loads it); without them only our side is measured.
//!
//! `cargo bench --bench scale_keys` prints the tables and writes `target/scale/keys.json`
//! (`scripts/scale-plots` draws it). `SCALE_KEYS_N=2,10` chooses the sizes. Under `cargo test`
//! it runs N = 2 and 5 once, as a check.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use gstjframe::olm::{Event, FEATURE_E2EE, MediaKey, Participant};

#[path = "scale/cpu_time.rs"]
mod cpu_time;
use cpu_time::thread_cpu_ns;

/// Counts the heap bytes in use, to weigh the participants.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SIZES: [usize; 5] = [2, 10, 50, 100, 200];

/// A MUC nick as lib-jitsi-meet makes them: 8 hex digits (spread, so that join order and id
/// order differ).
fn nick(i: usize) -> String {
    format!("{:08x}", (i as u32 + 1).wrapping_mul(0x9e37_79b1))
}

enum Item {
    Message(String),
    Presence(&'static str, String),
}

/// What one phase took.
#[derive(Clone, Copy, Default)]
struct Phase {
    ms: f64,
    /// CPU time of this thread, which runs every participant.
    cpu_ms: f64,
    messages: u64,
    presences: u64,
    /// Time-outs handled because the room went quiet with someone still waiting.
    timeouts: u64,
    errors: u64,
}

struct Room {
    members: Vec<Participant>,
    /// Pending deliveries: (from, to, item), in the order sent.
    queue: VecDeque<(String, String, Item)>,
    /// Each member's own key, and the keys it holds of the others.
    own: HashMap<String, (MediaKey, u32)>,
    held: HashMap<String, HashMap<String, (MediaKey, u32)>>,
    phase: Phase,
    now: u64,
}

impl Room {
    fn new() -> Room {
        Room {
            members: Vec::new(),
            queue: VecDeque::new(),
            own: HashMap::new(),
            held: HashMap::new(),
            phase: Phase::default(),
            now: 0,
        }
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.local_id() == id)
    }

    /// Takes a member's outputs: messages and presence into the queue, keys into the books.
    fn drain(&mut self, at: usize) {
        let id = self.members[at].local_id().to_owned();
        while let Some(event) = self.members[at].poll_event() {
            match event {
                Event::SendMessage { to, json } => {
                    self.phase.messages += 1;
                    self.queue.push_back((id.clone(), to, Item::Message(json)));
                }
                Event::SetPresence { name, value } => {
                    self.phase.presences += 1;
                    for other in self.members.iter().filter(|m| m.local_id() != id) {
                        self.queue.push_back((
                            id.clone(),
                            other.local_id().to_owned(),
                            Item::Presence(name, value.clone()),
                        ));
                    }
                }
                Event::OwnKey { key: Some(key), index } => drop(self.own.insert(id.clone(), (key, index))),
                Event::PeerKey { peer, key: Some(key), index } => {
                    self.held.entry(id.clone()).or_default().insert(peer, (key, index));
                }
                Event::PeerKey { peer, key: None, .. } | Event::PeerKeysDropped { peer } => {
                    self.held.entry(id.clone()).or_default().remove(&peer);
                }
                Event::Error { .. } => self.phase.errors += 1,
                _ => {}
            }
        }
    }

    /// A new member: it and everyone in the room learn of each other, presence follows.
    fn join(&mut self, id: &str) {
        let mut newcomer = Participant::new(id).expect("a valid id");
        for member in &mut self.members {
            member.peer_joined(id, true);
            newcomer.peer_joined(member.local_id(), true);
        }
        // Presence the others published before: the MUC sends it to whoever joins.
        let presence: Vec<(String, Item)> = self
            .members
            .iter()
            .flat_map(|m| {
                let keys = m.identity_keys();
                let enabled = if m.is_enabled() { "true" } else { "" };
                [
                    (
                        m.local_id().to_owned(),
                        Item::Presence(gstjframe::olm::PRESENCE_ID_KEY_CURVE25519, keys.curve25519),
                    ),
                    (m.local_id().to_owned(), Item::Presence(gstjframe::olm::PRESENCE_ID_KEY_ED25519, keys.ed25519)),
                    (
                        m.local_id().to_owned(),
                        Item::Presence(gstjframe::olm::PRESENCE_E2EE_ENABLED, enabled.to_owned()),
                    ),
                ]
            })
            .collect();
        self.members.push(newcomer);
        for (from, item) in presence {
            self.queue.push_back((from, id.to_owned(), item));
        }
        let at = self.members.len() - 1;
        self.drain(at);
    }

    fn leave(&mut self, id: &str) {
        let at = self.index(id).expect("a member");
        self.members.remove(at);
        self.own.remove(id);
        self.held.remove(id);
        self.queue.retain(|(from, to, _)| from != id && to != id);
        for at in 0..self.members.len() {
            self.members[at].peer_left(id, self.now);
            self.drain(at);
        }
    }

    fn act(&mut self, at: usize, action: impl FnOnce(&mut Participant, u64)) {
        action(&mut self.members[at], self.now);
        self.drain(at);
    }

    /// Delivers until nothing is queued; a member still waiting then has its time-outs.
    fn settle(&mut self) {
        loop {
            while let Some((from, to, item)) = self.queue.pop_front() {
                let Some(at) = self.index(&to) else { continue };
                let now = self.now;
                match &item {
                    Item::Message(json) => self.members[at].handle_message(&from, json, now),
                    Item::Presence(name, value) => self.members[at].handle_presence(&from, name, Some(value), now),
                }
                self.drain(at);
            }
            let Some(due) = self.members.iter().filter_map(Participant::next_deadline).min() else { return };
            self.now = self.now.max(due);
            self.phase.timeouts += 1;
            for at in 0..self.members.len() {
                self.members[at].handle_timeout(self.now);
                self.drain(at);
            }
        }
    }

    /// Whether everyone holds everyone else's current key (`only`: of the pairs with that member).
    fn complete(&self, only: Option<&str>) -> bool {
        self.members.iter().all(|m| {
            let held = self.held.get(m.local_id());
            let pairs = |o: &&Participant| match only {
                Some(only) => m.local_id() == only || o.local_id() == only,
                None => true,
            };
            self.members.iter().filter(|o| o.local_id() != m.local_id()).filter(pairs).all(|o| {
                let own = self.own.get(o.local_id());
                let theirs = held.and_then(|h| h.get(o.local_id()));
                matches!((own, theirs), (Some((a, i)), Some((b, j))) if a == b && i == j)
            })
        })
    }

    fn holds_key_of(&self, id: &str) -> bool {
        self.held.values().any(|h| h.contains_key(id))
    }

    fn timed(&mut self, run: impl FnOnce(&mut Room)) -> Phase {
        self.phase = Phase::default();
        let (start, cpu_start) = (Instant::now(), thread_cpu_ns());
        run(self);
        self.phase.ms = start.elapsed().as_secs_f64() * 1e3;
        self.phase.cpu_ms = (thread_cpu_ns() - cpu_start) as f64 / 1e6;
        self.phase
    }
}

struct Row {
    n: usize,
    joined: Phase,
    left: Phase,
    rejoined: Phase,
    /// Heap in use by the room of N, all keys exchanged.
    heap_bytes: f64,
}

fn measure(n: usize) -> Row {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut room = Room::new();
    // Everyone is in the room and has seen everyone's presence; then all turn E2EE on.
    for i in 0..n {
        room.join(&nick(i));
    }
    room.settle();
    let joined = room.timed(|room| {
        for at in 0..room.members.len() {
            room.act(at, |m, now| m.enable(now));
        }
        room.settle();
    });
    assert!(room.complete(None), "N={n}: everyone holds everyone's key after joining");
    let heap_bytes = (LIVE_BYTES.load(Ordering::Relaxed) - before) as f64;
    // One leaves: the others drop its keys and rotate theirs.
    let leaver = nick(n / 2);
    let left = room.timed(|room| {
        room.leave(&leaver);
        for at in 0..room.members.len() {
            room.act(at, |m, now| m.rotate_key(now));
        }
        room.settle();
    });
    assert!(room.complete(None), "N={n}: everyone holds everyone's new key after one left");
    assert!(!room.holds_key_of(&leaver), "N={n}: nobody holds the key of the one who left");
    // One joins: the others ratchet, it makes sessions with everyone and gets their keys (the
    // others follow each other's ratchets on the media, with no message).
    let newcomer = nick(n);
    let rejoined = room.timed(|room| {
        room.join(&newcomer);
        let at = room.members.len() - 1;
        room.settle();
        room.act(at, |m, now| m.enable(now));
        for other in 0..at {
            room.act(other, |m, _| m.ratchet_key());
        }
        room.settle();
    });
    assert!(room.complete(Some(&newcomer)), "N={n}: the newcomer and everyone hold each other's key");
    Row { n, joined, left, rejoined, heap_bytes }
}

/// The reference's figures per N, from the Node driver: `None` when it could not run.
fn reference(sizes: &[usize]) -> Option<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/scale/olm-reference.mjs");
    let list: Vec<String> = sizes.iter().map(usize::to_string).collect();
    let output = std::process::Command::new("node")
        .arg(script)
        .arg(list.join(","))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| eprintln!("the reference did not run (node: {e})"))
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().rev().find(|l| l.starts_with('{'))?;
    serde_json::from_str(last).ok()
}

fn phase_json(phase: &Phase) -> serde_json::Value {
    serde_json::json!({ "ms": phase.ms, "cpu_ms": phase.cpu_ms, "messages": phase.messages, "presences": phase.presences,
        "timeouts": phase.timeouts, "errors": phase.errors })
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = match std::env::var("SCALE_KEYS_N") {
        Ok(list) => list.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) if bench => SIZES.to_vec(),
        Err(_) => vec![2, 5],
    };
    let rows: Vec<Row> = sizes.iter().map(|&n| measure(n)).collect();
    if !bench {
        return println!("scale_keys: checked N = {sizes:?}");
    }
    let reference = reference(&sizes);
    let ours_json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({ "n": r.n, "joined": phase_json(&r.joined), "left": phase_json(&r.left),
                "rejoined": phase_json(&r.rejoined), "heap_bytes": r.heap_bytes })
        })
        .collect();
    let ref_rows = reference.as_ref().and_then(|r| r["rows"].as_array()).cloned().unwrap_or_default();
    let ref_of = |n: usize| ref_rows.iter().find(|r| r["n"].as_u64() == Some(n as u64));
    println!("\nOlm key exchange, N participants in one process (ours: the sans-I/O core; reference: lib-jitsi-meet's");
    println!("OlmAdapter with libolm in Node), until everyone holds everyone's key:");
    println!(
        "| N | phase | ours: ms, CPU ms | reference: ms, CPU ms | reference / ours (CPU) | messages (ours / reference) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        for (key, name, phase) in [
            ("joined", "all joined", &row.joined),
            ("left", "one left", &row.left),
            ("rejoined", "one joined", &row.rejoined),
        ] {
            let theirs = ref_of(row.n).map(|r| &r[key]);
            let figure = |name: &str| theirs.and_then(|t| t[name].as_f64());
            let (ref_ms, ref_cpu) = (figure("ms"), figure("cpu_ms"));
            let ref_messages = theirs.and_then(|t| t["messages"].as_u64());
            println!(
                "| {} | {name} | {:.1}, {:.1} | {} | {} | {} / {} |",
                row.n,
                phase.ms,
                phase.cpu_ms,
                match (ref_ms, ref_cpu) {
                    (Some(ms), Some(cpu)) => format!("{ms:.1}, {cpu:.1}"),
                    _ => "-".into(),
                },
                ref_cpu.map_or("-".into(), |cpu| format!("{:.1}", cpu / phase.cpu_ms)),
                phase.messages,
                ref_messages.map_or("-".into(), |m| m.to_string()),
            );
        }
    }
    let (timeouts, errors): (u64, u64) = rows
        .iter()
        .flat_map(|r| [&r.joined, &r.left, &r.rejoined])
        .fold((0, 0), |(t, e), p| (t + p.timeouts, e + p.errors));
    println!("ours: {timeouts} time-out steps, {errors} error outputs in all phases");
    println!("\n| N | ours: heap per participant | per peer held | reference: memory per participant |");
    println!("| --- | --- | --- | --- |");
    for row in &rows {
        let theirs = ref_of(row.n).and_then(|r| r["bytes_per_participant"].as_f64());
        println!(
            "| {} | {:.0} B | {:.0} B | {} |",
            row.n,
            row.heap_bytes / row.n as f64,
            row.heap_bytes / (row.n * (row.n - 1)) as f64,
            theirs.map_or("-".into(), |b| format!("{b:.0} B"))
        );
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scale");
    let _ = std::fs::create_dir_all(&dir);
    let json = serde_json::json!({ "ours": ours_json, "reference": reference });
    std::fs::write(dir.join("keys.json"), format!("{json}\n")).expect("writes the results");
    println!("written to target/scale/keys.json");
    let _ = FEATURE_E2EE;
}
