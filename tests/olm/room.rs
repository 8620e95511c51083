//! An in-memory MUC for `gstjframe::olm` participants: private messages and presence are
//! delivered in the order they were sent; everything else a participant outputs is kept.

use std::collections::{BTreeMap, VecDeque};

use gstjframe::olm::{Event, MediaKey, Participant};

pub struct Member {
    pub participant: Participant,
    /// Every output but messages and presence, in order.
    pub events: Vec<Event>,
    presence: BTreeMap<&'static str, String>,
}

enum Delivery {
    Message { from: String, to: String, json: String },
    Presence { from: String, name: &'static str, value: String },
}

/// Changes a private message in flight (`from`, `to`, text) before it is delivered.
pub type Tamper = Box<dyn FnMut(&str, &str, String) -> String>;

#[derive(Default)]
pub struct Room {
    pub members: BTreeMap<String, Member>,
    pub now: u64,
    queue: VecDeque<Delivery>,
    pub tamper: Option<Tamper>,
}

impl Room {
    pub fn new(ids: &[&str]) -> Room {
        let mut room = Room::default();
        for id in ids {
            room.join(id);
        }
        room
    }

    /// A participant joins: everyone learns of everyone, the newcomer gets the others' presence.
    pub fn join(&mut self, id: &str) {
        self.join_with_feature(id, true);
    }

    /// A participant joins whose presence has the E2EE feature or not.
    pub fn join_with_feature(&mut self, id: &str, has_e2ee_feature: bool) {
        let mut participant = Participant::new(id).expect("participant");
        for (other, member) in &mut self.members {
            member.participant.peer_joined(id, has_e2ee_feature);
            participant.peer_joined(other, true);
            for (name, value) in &member.presence {
                participant.handle_presence(other, name, Some(value), self.now);
            }
        }
        self.members.insert(id.to_owned(), Member { participant, events: Vec::new(), presence: BTreeMap::new() });
        self.run();
    }

    pub fn leave(&mut self, id: &str) {
        self.members.remove(id);
        let now = self.now;
        for member in self.members.values_mut() {
            member.participant.peer_left(id, now);
        }
        self.run();
    }

    pub fn member(&mut self, id: &str) -> &mut Participant {
        &mut self.members.get_mut(id).expect("member").participant
    }

    pub fn events(&self, id: &str) -> &[Event] {
        &self.members[id].events
    }

    /// Relays until nothing moves.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for (id, member) in &mut self.members {
                while let Some(event) = member.participant.poll_event() {
                    moved = true;
                    match event {
                        Event::SendMessage { to, json } => {
                            self.queue.push_back(Delivery::Message { from: id.clone(), to, json })
                        }
                        Event::SetPresence { name, value } => {
                            member.presence.insert(name, value.clone());
                            self.queue.push_back(Delivery::Presence { from: id.clone(), name, value });
                        }
                        other => member.events.push(other),
                    }
                }
            }
            let Some(delivery) = self.queue.pop_front() else {
                if !moved {
                    return;
                }
                continue;
            };
            let now = self.now;
            match delivery {
                Delivery::Message { from, to, mut json } => {
                    if let Some(tamper) = &mut self.tamper {
                        json = tamper(&from, &to, json);
                    }
                    if let Some(member) = self.members.get_mut(&to) {
                        member.participant.handle_message(&from, &json, now);
                    }
                }
                Delivery::Presence { from, name, value } => {
                    for (id, member) in &mut self.members {
                        if *id != from {
                            member.participant.handle_presence(&from, name, Some(&value), now);
                        }
                    }
                }
            }
        }
        panic!("the room did not settle");
    }

    /// Time passes for everyone.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        let now = self.now;
        for member in self.members.values_mut() {
            member.participant.handle_timeout(now);
        }
        self.run();
    }

    /// The last own key of `id`.
    pub fn own_key(&self, id: &str) -> Option<(Option<MediaKey>, u32)> {
        self.events(id).iter().rev().find_map(|e| match e {
            Event::OwnKey { key, index } => Some((key.clone(), *index)),
            _ => None,
        })
    }

    /// The last key of `of` that `at` holds, unless dropped since.
    pub fn peer_key(&self, at: &str, of: &str) -> Option<(Option<MediaKey>, u32)> {
        self.events(at).iter().rev().find_map(|e| match e {
            Event::PeerKey { peer, key, index } if peer == of => Some(Some((key.clone(), *index))),
            Event::PeerKeysDropped { peer } if peer == of => Some(None),
            _ => None,
        })?
    }

    /// Errors `id` reported.
    pub fn errors(&self, id: &str) -> Vec<String> {
        self.events(id)
            .iter()
            .filter_map(|e| match e {
                Event::Error { peer, error } => Some(format!("{peer:?}: {error}")),
                _ => None,
            })
            .collect()
    }
}
