//! One participant of lib-jitsi-meet's Olm key exchange (`gstjframe::olm`) speaking the JSON-lines
//! peer protocol of the reference check (`shared/olm/README.md`) on stdin and stdout: the check
//! runs lib-jitsi-meet's own OlmAdapter against it.
//!
//! ```text
//! cargo build --release --example olm-peer
//! node rust-bridge.mjs --peer target/release/examples/olm-peer
//! ```
//!
//! It is a test tool: as the protocol asks, it prints the media keys (hex) in its `own-key` and
//! `key-updated` events. Time is the real time; the `timeout` op ends the wait for sessions at once.

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gstjframe::olm::{Event, FEATURE_E2EE, MacEncoding, Participant, SasCode};
use serde_json::{Value, json};
use vodozemac::sas::{EstablishedSas, Sas};

struct Peer {
    participant: Option<Participant>,
    started: Instant,
    /// Added to the real time by `timeout`, which jumps over the wait for sessions.
    skipped_ms: u64,
    sas_keys: Vec<Option<Sas>>,
    out: std::io::StdoutLock<'static>,
}

fn text<'a>(line: &'a Value, name: &str) -> Result<&'a str, String> {
    line.get(name).and_then(Value::as_str).ok_or_else(|| format!("field {name}: missing or not a string"))
}

fn has_feature(features: Option<&Value>) -> bool {
    features.and_then(Value::as_array).is_some_and(|f| f.iter().any(|f| f.as_str() == Some(FEATURE_E2EE)))
}

fn key_json(key: Option<&gstjframe::olm::MediaKey>) -> Value {
    key.map_or(Value::Bool(false), |key| Value::from(hex::encode(key.as_bytes())))
}

impl Peer {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + self.skipped_ms
    }

    fn print(&mut self, line: Value) {
        // A closed stdout ends the run at the next read; nothing to do here.
        let _ = writeln!(self.out, "{line}").and_then(|()| self.out.flush());
    }

    fn participant(&mut self) -> Result<&mut Participant, String> {
        self.participant.as_mut().ok_or_else(|| "no init yet".to_owned())
    }

    fn handle(&mut self, line: &Value) -> Result<(), String> {
        let now = self.now();
        let op = text(line, "op")?;
        match op {
            "init" => {
                let mut participant = Participant::new(text(line, "myId")?).map_err(|e| e.to_string())?;
                for peer in line.get("peers").and_then(Value::as_array).into_iter().flatten() {
                    participant.peer_joined(text(peer, "id")?, has_feature(peer.get("features")));
                }
                let keys = participant.identity_keys();
                self.participant = Some(participant);
                self.print(json!({"op": "event", "event": "identity-keys", "curve25519": keys.curve25519, "ed25519": keys.ed25519}));
            }
            "presence" => {
                let value = line.get("value").and_then(Value::as_str);
                let (from, name) = (text(line, "from")?, text(line, "name")?);
                self.participant()?.handle_presence(from, name, value, now);
            }
            "message" => {
                let (from, json) = (text(line, "from")?, text(line, "json")?);
                self.participant()?.handle_message(from, json, now);
            }
            "enable" => self.participant()?.enable(now),
            "disable" => self.participant()?.disable(now),
            "rotate" => self.participant()?.rotate_key(now),
            "ratchet" => self.participant()?.ratchet_key(),
            "joined" => {
                let id = text(line, "id")?;
                let feature = has_feature(line.get("features"));
                self.participant()?.peer_joined(id, feature);
            }
            "left" => {
                let id = text(line, "id")?;
                self.participant()?.peer_left(id, now);
            }
            "timeout" => self.end_session_wait()?,
            "start-sas" => {
                let with = text(line, "with")?;
                self.participant()?.start_verification(with);
            }
            "confirm-sas" => {
                let with = text(line, "with")?;
                self.participant()?.confirm_verification(with, true);
            }
            "mac-mode" => {
                let encoding = match text(line, "mode")? {
                    "fixed" => MacEncoding::Fixed,
                    _ => MacEncoding::Libolm,
                };
                self.participant()?.testing_set_mac_encoding(encoding);
            }
            "tamper" => self.participant()?.testing_tamper_commitment(),
            "sas-begin" => {
                let count = line.get("count").and_then(Value::as_u64).unwrap_or(0).min(10_000) as usize;
                self.sas_keys = (0..count).map(|_| Some(Sas::new())).collect();
                let keys: Vec<String> = self.sas_keys.iter().flatten().map(|s| s.public_key().to_base64()).collect();
                self.print(json!({"op": "sas-pubkeys", "keys": keys}));
            }
            "sas-compute" => {
                let results = self.sas_compute(line)?;
                self.print(json!({"op": "sas-results", "results": results}));
            }
            other => return Err(format!("unknown op {other:?}")),
        }
        Ok(())
    }

    /// Fires the deadlines until the wait for sessions is over.
    fn end_session_wait(&mut self) -> Result<(), String> {
        for _ in 0..1000 {
            let participant = self.participant()?;
            let Some(deadline) = participant.next_deadline().filter(|_| participant.is_waiting_for_sessions()) else {
                break;
            };
            let now = self.now();
            self.skipped_ms += deadline.saturating_sub(now);
            self.participant()?.handle_timeout(deadline.max(now));
        }
        Ok(())
    }

    fn sas_compute(&mut self, line: &Value) -> Result<Vec<Value>, String> {
        let their_keys = line.get("theirKeys").and_then(Value::as_array).ok_or("field theirKeys missing")?;
        let mut established: Vec<Option<EstablishedSas>> = Vec::new();
        for (i, sas) in self.sas_keys.iter_mut().enumerate() {
            let their = their_keys.get(i).and_then(Value::as_str).unwrap_or_default();
            established.push(sas.take().and_then(|sas| sas.diffie_hellman_with_raw(their).ok()));
        }
        let mut results = Vec::new();
        for case in line.get("cases").and_then(Value::as_array).into_iter().flatten() {
            let i = case.get("i").and_then(Value::as_u64).unwrap_or(u64::MAX) as usize;
            let sas = established.get(i).and_then(Option::as_ref).ok_or_else(|| format!("no SAS {i}"))?;
            let (info, input, mac_info) = (text(case, "info")?, text(case, "macInput")?, text(case, "macInfo")?);
            let bytes = *sas.bytes(info).as_bytes();
            let code = SasCode::from_bytes(bytes);
            results.push(json!({
                "bytes": hex::encode(bytes),
                "bytes32": hex::encode(sas.bytes_raw(info, 32).map_err(|e| e.to_string())?),
                "decimal": code.decimal,
                "emojiIndices": code.emoji,
                "macInvalidBase64": sas.calculate_mac_invalid_base64(input, mac_info),
                "macFixed": sas.calculate_mac(input, mac_info).to_base64(),
            }));
        }
        Ok(results)
    }

    fn flush_events(&mut self) {
        while let Some(event) = self.participant.as_mut().and_then(Participant::poll_event) {
            let line = match event {
                Event::SendMessage { to, json } => json!({"op": "send", "to": to, "json": json}),
                Event::SetPresence { name, value } => {
                    // The bridge writes no text for `false`: an empty element.
                    let value = if value.is_empty() { Value::Bool(false) } else { Value::from(value) };
                    json!({"op": "presence", "name": name, "value": value})
                }
                Event::OwnKey { key, index } => {
                    json!({"op": "event", "event": "own-key", "key": key_json(key.as_ref()), "keyIndex": index})
                }
                Event::PeerKey { peer, key, index } => json!({"op": "event", "event": "key-updated", "from": peer,
                    "key": key_json(key.as_ref()), "keyIndex": index}),
                Event::PeerKeysDropped { peer } => json!({"op": "event", "event": "keys-dropped", "from": peer}),
                Event::SessionReady { peer, initiator } => {
                    json!({"op": "event", "event": "session-ready", "with": peer,
                    "role": if initiator { "initiator" } else { "responder" }})
                }
                Event::SasAvailable { peer } => json!({"op": "event", "event": "sas-available", "with": peer}),
                Event::SasReady { peer, sas } => json!({"op": "event", "event": "sas-ready", "with": peer,
                    "bytes": hex::encode(sas.bytes), "decimal": sas.decimal, "emojiIndices": sas.emoji}),
                Event::VerificationCompleted { peer, ok, reason } => json!({"op": "event",
                    "event": "verification-completed", "with": peer, "ok": ok, "error": reason.map(|r| r.as_str())}),
                Event::Error { peer, error } => {
                    json!({"op": "log", "level": "warn", "text": format!("{}: {error}", peer.unwrap_or_default())})
                }
            };
            self.print(line);
        }
    }
}

fn main() {
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut peer = Peer {
        participant: None,
        started: Instant::now(),
        skipped_ms: 0,
        sas_keys: Vec::new(),
        out: std::io::stdout().lock(),
    };
    let mut count = 0u64;
    loop {
        // Wake up for the participant's next deadline, as a wrapper's timer would.
        let wait = peer.participant.as_ref().and_then(Participant::next_deadline).map(|d| d.saturating_sub(peer.now()));
        let line = match wait {
            Some(ms) => match lines.recv_timeout(Duration::from_millis(ms)) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let now = peer.now();
                    if let Some(participant) = peer.participant.as_mut() {
                        participant.handle_timeout(now);
                    }
                    peer.flush_events();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match lines.recv() {
                Ok(line) => line,
                Err(_) => break,
            },
        };
        count += 1;
        let parsed: Result<Value, String> = serde_json::from_str(&line).map_err(|e| e.to_string());
        if parsed.as_ref().is_ok_and(|v| v.get("op").and_then(Value::as_str) == Some("quit")) {
            break;
        }
        if let Err(error) = parsed.and_then(|v| peer.handle(&v)) {
            peer.print(json!({"op": "log", "level": "error", "text": format!("line {count}: {error}")}));
        }
        peer.flush_events();
        peer.print(json!({"op": "ack", "n": count}));
    }
}
