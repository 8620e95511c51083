//! A meeting in one process: an in-process MUC that relays private messages, presence,
//! joins and leaves between participants, an in-process SFU that relays their RTP, and
//! participants built of real elements (`jframeolm`, `jframeenc`/`jframedec`, VP8 and
//! Opus encoders, payloaders, depayloaders and decoders), each with its own key store.
//! Nobody sets a key by hand: every key comes from the Olm exchange of `jframeolm`.
//!
//! Used by the `olm-meeting` example and by the meeting test.

#![allow(dead_code)] // the example and the test use different parts

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstjframe::KeyStore;
use gstjframe::olm::{Event, Participant};

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The E2EE presence feature every participant here has.
const HAS_E2EE_FEATURE: bool = true;
const VIDEO_RTP_CAPS: &str = "application/x-rtp,media=video,clock-rate=90000,encoding-name=VP8,payload=96";
const AUDIO_RTP_CAPS: &str = "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=111";
const WIDTH: usize = 160;
const HEIGHT: usize = 120;
const VIDEO_FRAME: Duration = Duration::from_nanos(1_000_000_000 / 30);
const AUDIO_FRAME: Duration = Duration::from_millis(20);
const AUDIO_SAMPLES: usize = 960;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whoever sits in the MUC: what its XMPP client hands it.
pub trait Occupant: Send + Sync {
    /// `id` is in the room; `after_me` when it came after this occupant (a join, not the roster).
    fn joined(&self, id: &str, has_e2ee_feature: bool, after_me: bool);
    /// A presence property of `from` changed (`None`: the element went away or is empty).
    fn presence(&self, from: &str, name: &str, value: Option<&str>);
    fn message(&self, from: &str, json: &str);
    fn left(&self, id: &str);
}

/// A jframeolm driven as an application drives it: the room's events go in through its
/// action signals; a join makes it ratchet its key, a leave rotate it (lib-jitsi-meet's
/// ManagedKeyHandler).
pub struct OlmOccupant(pub gst::Element);

impl Occupant for OlmOccupant {
    fn joined(&self, id: &str, has_e2ee_feature: bool, after_me: bool) {
        self.0.emit_by_name::<()>("participant-joined", &[&id, &has_e2ee_feature]);
        if after_me {
            self.0.emit_by_name::<()>("ratchet-key", &[]);
        }
    }

    fn presence(&self, from: &str, name: &str, value: Option<&str>) {
        self.0.emit_by_name::<()>("handle-presence", &[&from, &name, &value]);
    }

    fn message(&self, from: &str, json: &str) {
        self.0.emit_by_name::<bool>("handle-message", &[&from, &json]);
    }

    fn left(&self, id: &str) {
        self.0.emit_by_name::<()>("participant-left", &[&id]);
        self.0.emit_by_name::<()>("rotate-key", &[]);
    }
}

/// A participant of the core itself (`gstjframe::olm::Participant`, no element) in the MUC,
/// as tests use it: it confirms SAS codes at once and keeps every event it gave.
pub struct CoreOccupant {
    id: String,
    participant: Mutex<Participant>,
    muc: Muc,
    origin: Instant,
    events: Mutex<Vec<Event>>,
}

impl CoreOccupant {
    /// Joins the MUC as `id` and turns E2EE on; `prepare` may first set the core's test hooks.
    pub fn join(id: &str, muc: &Muc, prepare: impl FnOnce(&mut Participant)) -> Result<Arc<CoreOccupant>> {
        let mut participant = Participant::new(id).map_err(|e| e.to_string())?;
        prepare(&mut participant);
        let occupant = Arc::new(CoreOccupant {
            id: id.to_owned(),
            participant: Mutex::new(participant),
            muc: muc.clone(),
            origin: Instant::now(),
            events: Mutex::default(),
        });
        occupant.run(|_, _| {});
        muc.join(id, occupant.clone());
        muc.wait_quiet(TIMEOUT);
        occupant.run(|p, now| p.enable(now));
        Ok(occupant)
    }

    /// Gives an input, then does what the participant asks: messages and presence into the
    /// MUC; SAS codes are confirmed at once.
    pub fn run(&self, input: impl FnOnce(&mut Participant, u64)) {
        let mut participant = lock(&self.participant);
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        input(&mut participant, now);
        while let Some(event) = participant.poll_event() {
            match &event {
                Event::SendMessage { to, json } => self.muc.send_message(&self.id, to, json),
                Event::SetPresence { name, value } => self.muc.set_presence(&self.id, name, value),
                Event::SasReady { peer, .. } => participant.confirm_verification(peer, true),
                _ => {}
            }
            lock(&self.events).push(event);
        }
    }

    /// The events it gave so far.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }
}

impl Occupant for CoreOccupant {
    fn joined(&self, id: &str, has_e2ee_feature: bool, _after_me: bool) {
        self.run(|p, _| p.peer_joined(id, has_e2ee_feature));
    }

    fn presence(&self, from: &str, name: &str, value: Option<&str>) {
        self.run(|p, now| p.handle_presence(from, name, value, now));
    }

    fn message(&self, from: &str, json: &str) {
        self.run(|p, now| p.handle_message(from, json, now));
    }

    fn left(&self, id: &str) {
        self.run(|p, now| p.peer_left(id, now));
    }
}

enum Stanza {
    Join {
        id: String,
        occupant: Arc<dyn Occupant>,
    },
    Leave {
        id: String,
    },
    /// A private `<json-message>` from `from` to `to`.
    Message {
        from: String,
        to: String,
        json: String,
    },
    /// `from` sent its full presence again.
    Presence {
        from: String,
    },
}

#[derive(Default)]
struct Room {
    occupants: BTreeMap<String, Arc<dyn Occupant>>,
    /// Each one's own presence properties (what it puts in every presence it sends).
    presence: BTreeMap<String, BTreeMap<String, String>>,
    /// What each occupant has seen of each other's presence, so that it hears of changes only.
    seen: BTreeMap<(String, String), BTreeMap<String, String>>,
    relayed_messages: u64,
}

/// The in-process MUC: stanzas are queued and delivered in order by one thread, as a
/// server would, so no occupant is called back from inside its own signal.
#[derive(Clone)]
pub struct Muc {
    room: Arc<Mutex<Room>>,
    queue: Sender<Stanza>,
    /// Stanzas queued and not yet delivered, to wait for a quiet room.
    pending: Arc<(Mutex<u64>, Condvar)>,
}

impl Muc {
    pub fn new() -> Muc {
        let (queue, stanzas) = channel();
        let muc = Muc { room: Arc::default(), queue, pending: Arc::default() };
        let server = muc.clone();
        std::thread::spawn(move || server.serve(stanzas));
        muc
    }

    fn post(&self, stanza: Stanza) {
        *lock(&self.pending.0) += 1;
        let _ = self.queue.send(stanza);
    }

    fn serve(&self, stanzas: Receiver<Stanza>) {
        while let Ok(stanza) = stanzas.recv() {
            self.deliver(stanza);
            let mut pending = lock(&self.pending.0);
            *pending -= 1;
            self.pending.1.notify_all();
        }
    }

    pub fn join(&self, id: &str, occupant: Arc<dyn Occupant>) {
        self.post(Stanza::Join { id: id.to_owned(), occupant });
    }

    pub fn leave(&self, id: &str) {
        self.post(Stanza::Leave { id: id.to_owned() });
    }

    /// What the occupant's client does for `send-message`.
    pub fn send_message(&self, from: &str, to: &str, json: &str) {
        self.post(Stanza::Message { from: from.to_owned(), to: to.to_owned(), json: json.to_owned() });
    }

    /// What the occupant's client does for `set-presence`: keep the property, send the full presence.
    pub fn set_presence(&self, from: &str, name: &str, value: &str) {
        let mut room = lock(&self.room);
        room.presence.entry(from.to_owned()).or_default().insert(name.to_owned(), value.to_owned());
        drop(room);
        self.post(Stanza::Presence { from: from.to_owned() });
    }

    /// Wires a jframeolm's output signals to this MUC, as participant `id`.
    pub fn connect(&self, olm: &gst::Element, id: &str) {
        let (muc, from) = (self.clone(), id.to_owned());
        olm.connect("send-message", false, move |args| {
            let to = args[1].get::<String>().unwrap_or_default();
            let json = args[2].get::<String>().unwrap_or_default();
            muc.send_message(&from, &to, &json);
            None
        });
        let (muc, from) = (self.clone(), id.to_owned());
        olm.connect("set-presence", false, move |args| {
            let name = args[1].get::<String>().unwrap_or_default();
            let value = args[2].get::<String>().unwrap_or_default();
            muc.set_presence(&from, &name, &value);
            None
        });
    }

    /// Waits until every stanza queued so far (and those they caused) is delivered.
    pub fn wait_quiet(&self, timeout: Duration) -> bool {
        let pending = lock(&self.pending.0);
        let (pending, result) =
            self.pending.1.wait_timeout_while(pending, timeout, |n| *n > 0).unwrap_or_else(|p| p.into_inner());
        drop(pending);
        !result.timed_out()
    }

    pub fn relayed_messages(&self) -> u64 {
        lock(&self.room).relayed_messages
    }

    fn deliver(&self, stanza: Stanza) {
        match stanza {
            Stanza::Join { id, occupant } => {
                let others: Vec<(String, Arc<dyn Occupant>)> = {
                    let mut room = lock(&self.room);
                    let others = room.occupants.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    room.occupants.insert(id.clone(), occupant.clone());
                    others
                };
                for (other, other_occupant) in others {
                    occupant.joined(&other, HAS_E2EE_FEATURE, false);
                    self.presence_update(&other, &id);
                    other_occupant.joined(&id, HAS_E2EE_FEATURE, true);
                    self.presence_update(&id, &other);
                }
            }
            Stanza::Leave { id } => {
                let others: Vec<Arc<dyn Occupant>> = {
                    let mut room = lock(&self.room);
                    room.occupants.remove(&id);
                    room.seen.retain(|(to, from), _| *to != id && *from != id);
                    room.occupants.values().cloned().collect()
                };
                for other in others {
                    other.left(&id);
                }
            }
            Stanza::Message { from, to, json } => {
                let receiver = {
                    let mut room = lock(&self.room);
                    let both_in = room.occupants.contains_key(&from);
                    let receiver = room.occupants.get(&to).filter(|_| both_in).cloned();
                    room.relayed_messages += u64::from(receiver.is_some());
                    receiver
                };
                if let Some(receiver) = receiver {
                    receiver.message(&from, &json);
                }
            }
            Stanza::Presence { from } => {
                let others: Vec<String> = {
                    let room = lock(&self.room);
                    if !room.occupants.contains_key(&from) {
                        return;
                    }
                    room.occupants.keys().filter(|id| **id != from).cloned().collect()
                };
                for to in others {
                    self.presence_update(&from, &to);
                }
            }
        }
    }

    /// Gives `to` the presence properties of `from` that changed since it last saw them.
    fn presence_update(&self, from: &str, to: &str) {
        let (receiver, changes) = {
            let mut room = lock(&self.room);
            let Some(receiver) = room.occupants.get(to).cloned() else { return };
            let now = room.presence.get(from).cloned().unwrap_or_default();
            let seen = room.seen.insert((to.to_owned(), from.to_owned()), now.clone()).unwrap_or_default();
            let names: BTreeSet<&String> = now.keys().chain(seen.keys()).collect();
            let changes: Vec<(String, Option<String>)> = names
                .into_iter()
                .filter(|name| now.get(*name) != seen.get(*name))
                .map(|name| (name.clone(), now.get(name).filter(|v| !v.is_empty()).cloned()))
                .collect();
            (receiver, changes)
        };
        for (name, value) in changes {
            receiver.presence(from, &name, value.as_deref());
        }
    }
}

/// Counts buffers that pass a pad.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn on(pad: &gst::Pad) -> Counter {
        let counter = Counter::default();
        let counting = counter.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counting.count();
            gst::PadProbeReturn::Ok
        });
        counter
    }

    pub fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Media {
    Video,
    Audio,
}

impl Media {
    pub fn name(self) -> &'static str {
        match self {
            Media::Video => "video",
            Media::Audio => "audio",
        }
    }
}

/// A participant's receiving appsrcs, by (sender, media).
type Inputs = BTreeMap<(String, Media), gst_app::AppSrc>;

/// The in-process SFU: relays each sender's RTP to everyone else in the room, asks
/// senders for a key frame when someone arrives, and counts the frames it relays.
#[derive(Default)]
pub struct Sfu {
    /// Per participant in the room: its receiving appsrcs by (sender, media).
    inputs: Mutex<BTreeMap<String, Inputs>>,
    /// Per participant: its RTP appsinks (to ask them for key frames).
    outputs: Mutex<BTreeMap<String, gst::Element>>,
    /// Frames relayed, by (sender, receiver, media).
    relayed: Mutex<BTreeMap<(String, String, Media), u64>>,
}

impl Sfu {
    fn relay(&self, sender: &str, media: Media, packet: &gst::Buffer) {
        // A video frame ends with the packet that has the marker bit; Opus frames are one packet each.
        let ends_frame = match media {
            Media::Video => gst_rtp::RTPBuffer::from_buffer_readable(packet).is_ok_and(|rtp| rtp.is_marker()),
            Media::Audio => true,
        };
        let inputs = lock(&self.inputs);
        if !inputs.contains_key(sender) {
            return;
        }
        for (receiver, sources) in inputs.iter().filter(|(id, _)| *id != sender) {
            if let Some(source) = sources.get(&(sender.to_owned(), media)) {
                let _ = source.push_buffer(packet.clone());
                if ends_frame {
                    *lock(&self.relayed).entry((sender.to_owned(), receiver.clone(), media)).or_default() += 1;
                }
            }
        }
    }

    fn enter(&self, member: &Member) {
        lock(&self.inputs).insert(member.id.clone(), member.inputs.clone());
        // Everyone already sending starts the newcomer's video with a key frame.
        for sink in lock(&self.outputs).values() {
            let request = gst::Structure::builder("GstForceKeyUnit").field("all-headers", true).build();
            sink.send_event(gst::event::CustomUpstream::new(request));
        }
    }

    fn exit(&self, id: &str) {
        lock(&self.inputs).remove(id);
    }

    /// Frames relayed from `sender` to `receiver`.
    pub fn relayed(&self, sender: &str, receiver: &str, media: Media) -> u64 {
        lock(&self.relayed).get(&(sender.to_owned(), receiver.to_owned(), media)).copied().unwrap_or(0)
    }
}

/// One participant: a pipeline with its jframeolm, its key store, a sending branch per
/// media and a receiving branch per media and possible peer.
pub struct Member {
    pub id: String,
    pub pipeline: gst::Pipeline,
    pub olm: gst::Element,
    pub store: KeyStore,
    /// The `jframeolm-*` element messages, in order.
    messages: Arc<Mutex<Vec<gst::Structure>>>,
    raw_video: gst_app::AppSrc,
    raw_audio: gst_app::AppSrc,
    frames_pushed: (u64, u64),
    inputs: Inputs,
    decoded: BTreeMap<(String, Media), Counter>,
}

fn element(bin: &gst::Pipeline, name: &str) -> Result<gst::Element> {
    Ok(bin.by_name(name).ok_or_else(|| format!("no element {name}"))?)
}

fn app_src(bin: &gst::Pipeline, name: &str) -> Result<gst_app::AppSrc> {
    Ok(element(bin, name)?.downcast::<gst_app::AppSrc>().map_err(|_| format!("{name} is no appsrc"))?)
}

impl Member {
    /// Builds the participant `id`, ready to receive from `peers`.
    fn new(id: &str, peers: &[&str], sfu: &Arc<Sfu>) -> Result<Member> {
        let raw = "appsrc format=time max-bytes=0 max-buffers=0 max-time=0";
        let mut description = format!(
            "jframeolm name=olm local-id={id} \
             {raw} name=raw_video caps=video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate=30/1 ! \
               vp8enc deadline=1 lag-in-frames=0 keyframe-max-dist=100000 ! jframeenc participant={id} ! \
               jframevp8pay pt=96 ! appsink name=rtp_video sync=false async=false emit-signals=false \
             {raw} name=raw_audio caps=audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1 ! \
               opusenc ! jframeenc participant={id} ! rtpopuspay pt=111 ! \
               appsink name=rtp_audio sync=false async=false "
        );
        for peer in peers {
            description.push_str(&format!(
                "appsrc name=video_from_{peer} format=time caps=\"{VIDEO_RTP_CAPS}\" ! rtpvp8depay ! \
                   jframedec name=vdec_{peer} participant={peer} ! vp8dec name=vp8dec_{peer} ! \
                   fakesink sync=false async=false \
                 appsrc name=audio_from_{peer} format=time caps=\"{AUDIO_RTP_CAPS}\" ! rtpopusdepay ! \
                   jframedec name=adec_{peer} participant={peer} ! opusdec name=opusdec_{peer} ! \
                   fakesink sync=false async=false "
            ));
        }
        let pipeline = gst::parse::launch(&description)?.downcast::<gst::Pipeline>().map_err(|_| "no pipeline")?;
        let store = KeyStore::new();
        pipeline.set_context(&store.context());

        let messages: Arc<Mutex<Vec<gst::Structure>>> = Arc::default();
        let kept = messages.clone();
        let bus = pipeline.bus().ok_or("pipeline without bus")?;
        bus.set_sync_handler(move |_, message| {
            if let Some(structure) = message.structure().filter(|s| s.name().starts_with("jframeolm-")) {
                lock(&kept).push(structure.to_owned());
            }
            gst::BusSyncReply::Drop
        });

        let mut inputs = BTreeMap::new();
        let mut decoded = BTreeMap::new();
        for peer in peers {
            for (media, source, decoder) in
                [(Media::Video, "video_from_", "vp8dec_"), (Media::Audio, "audio_from_", "opusdec_")]
            {
                inputs.insert((peer.to_string(), media), app_src(&pipeline, &format!("{source}{peer}"))?);
                let pad = element(&pipeline, &format!("{decoder}{peer}"))?.static_pad("src").ok_or("decoder pad")?;
                decoded.insert((peer.to_string(), media), Counter::on(&pad));
            }
        }
        for (name, media) in [("rtp_video", Media::Video), ("rtp_audio", Media::Audio)] {
            let sink = element(&pipeline, name)?.downcast::<gst_app::AppSink>().map_err(|_| "no appsink")?;
            let (relay, sender) = (sfu.clone(), id.to_owned());
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        if let Some(packet) = sample.buffer_owned() {
                            relay.relay(&sender, media, &packet);
                        }
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            if media == Media::Video {
                lock(&sfu.outputs).insert(id.to_owned(), sink.upcast());
            }
        }
        let olm = element(&pipeline, "olm")?;
        let member = Member {
            id: id.to_owned(),
            raw_video: app_src(&pipeline, "raw_video")?,
            raw_audio: app_src(&pipeline, "raw_audio")?,
            pipeline,
            olm,
            store,
            messages,
            frames_pushed: (0, 0),
            inputs,
            decoded,
        };
        Ok(member)
    }

    /// Pushes `video` frames of raw video and `audio` frames of raw audio into the encoders.
    fn push_media(&mut self, video: u64, audio: u64) -> Result<()> {
        for _ in 0..video {
            let n = self.frames_pushed.0;
            let mut frame = vec![0u8; WIDTH * HEIGHT * 3 / 2];
            // A moving gradient, so that the encoder has something to encode.
            for (i, byte) in frame.iter_mut().enumerate() {
                *byte = ((i % WIDTH) as u64 + (i / WIDTH) as u64 + n * 3) as u8;
            }
            let mut buffer = gst::Buffer::from_mut_slice(frame);
            if let Some(buffer) = buffer.get_mut() {
                buffer.set_pts(gst::ClockTime::from_nseconds(n * VIDEO_FRAME.as_nanos() as u64));
                buffer.set_duration(gst::ClockTime::from_nseconds(VIDEO_FRAME.as_nanos() as u64));
            }
            self.raw_video.push_buffer(buffer)?;
            self.frames_pushed.0 += 1;
        }
        for _ in 0..audio {
            let n = self.frames_pushed.1;
            let samples: Vec<u8> = (0..AUDIO_SAMPLES)
                .flat_map(|i| {
                    let t = (n as usize * AUDIO_SAMPLES + i) as f64 / 48_000.0;
                    (((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16).to_le_bytes()
                })
                .collect();
            let mut buffer = gst::Buffer::from_mut_slice(samples);
            if let Some(buffer) = buffer.get_mut() {
                buffer.set_pts(gst::ClockTime::from_nseconds(n * AUDIO_FRAME.as_nanos() as u64));
                buffer.set_duration(gst::ClockTime::from_nseconds(AUDIO_FRAME.as_nanos() as u64));
            }
            self.raw_audio.push_buffer(buffer)?;
            self.frames_pushed.1 += 1;
        }
        Ok(())
    }

    /// The jframeolm messages so far named `name`.
    pub fn messages(&self, name: &str) -> Vec<gst::Structure> {
        lock(&self.messages).iter().filter(|s| s.name() == name).cloned().collect()
    }

    /// The last message `name` about `participant`.
    pub fn last_message(&self, name: &str, participant: &str) -> Option<gst::Structure> {
        self.messages(name)
            .into_iter()
            .rev()
            .find(|s| s.get::<String>("participant").ok().as_deref() == Some(participant))
    }

    /// A counter of a jframedec (`vdec_<peer>` / `adec_<peer>`), from its `stats`.
    pub fn decrypter_stat(&self, peer: &str, media: Media, field: &str) -> u64 {
        let name = match media {
            Media::Video => format!("vdec_{peer}"),
            Media::Audio => format!("adec_{peer}"),
        };
        element(&self.pipeline, &name)
            .map(|e| e.property::<gst::Structure>("stats").get::<u64>(field).unwrap_or(0))
            .unwrap_or(0)
    }

    /// Frames from `peer` this participant decrypted.
    pub fn decrypted(&self, peer: &str, media: Media) -> u64 {
        self.decrypter_stat(peer, media, "frames-processed")
    }

    /// Frames from `peer` this participant dropped, for any reason.
    pub fn dropped(&self, peer: &str, media: Media) -> u64 {
        ["dropped-no-key", "dropped-unknown-key-index", "dropped-authentication-failed", "dropped-malformed"]
            .iter()
            .map(|field| self.decrypter_stat(peer, media, field))
            .sum()
    }

    /// Frames from `peer` this participant decoded.
    pub fn decoded(&self, peer: &str, media: Media) -> u64 {
        self.decoded.get(&(peer.to_owned(), media)).map_or(0, Counter::get)
    }

    /// The verification code of a participant's current key in this member's store.
    pub fn key_code(&self, participant: &str) -> Option<String> {
        self.store.verification_code(participant).map(|code| code.decimal_string())
    }

    /// A counter of the jframeolm's `stats`.
    pub fn olm_stat(&self, field: &str) -> i64 {
        let stats = self.olm.property::<gst::Structure>("stats");
        stats.get::<u64>(field).map(|n| n as i64).or_else(|_| stats.get::<i64>(field)).unwrap_or(0)
    }
}

/// The SAS codes one side of a pair saw: `(decimal, emoji)`.
pub type Sas = (String, String);

/// Participants, the MUC and the SFU.
pub struct Meeting {
    pub muc: Muc,
    pub sfu: Arc<Sfu>,
    pub members: BTreeMap<String, Member>,
    /// Who is in the room.
    pub present: BTreeSet<String>,
}

const TIMEOUT: Duration = Duration::from_secs(20);

/// Polls `done` until it holds or `timeout` passes; `true` if it held.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

impl Meeting {
    /// Participants `ids`, none of them in the room yet.
    pub fn new(ids: &[&str]) -> Result<Meeting> {
        let (muc, sfu) = (Muc::new(), Arc::new(Sfu::default()));
        let mut members = BTreeMap::new();
        for id in ids {
            let peers: Vec<&str> = ids.iter().copied().filter(|p| p != id).collect();
            let member = Member::new(id, &peers, &sfu)?;
            // Connected before it starts: it announces its identity keys when it goes to READY.
            muc.connect(&member.olm, id);
            member.pipeline.set_state(gst::State::Playing)?;
            members.insert(id.to_string(), member);
        }
        Ok(Meeting { muc, sfu, members, present: BTreeSet::new() })
    }

    pub fn member(&self, id: &str) -> &Member {
        &self.members[id]
    }

    /// `id` joins the MUC, then turns E2EE on, as a Jitsi Meet client in an E2EE meeting does.
    pub fn join(&mut self, id: &str) -> Result<()> {
        let member = self.members.get(id).ok_or("no such member")?;
        self.sfu.enter(member);
        self.muc.join(id, Arc::new(OlmOccupant(member.olm.clone())));
        self.muc.wait_quiet(TIMEOUT);
        member.olm.set_property("enabled", true);
        self.present.insert(id.to_owned());
        Ok(())
    }

    /// `id` leaves the MUC (the others rotate their keys) and the SFU.
    pub fn leave(&mut self, id: &str) {
        self.sfu.exit(id);
        self.muc.leave(id);
        self.present.remove(id);
    }

    /// Whether every pair in the room holds each other's keys: the receiver's store has the
    /// sender's current key, and each has a key of its own at `own_index` or above.
    pub fn keys_exchanged(&self, own_index: i64, exact: bool) -> bool {
        self.present.iter().all(|sender| {
            let own = &self.members[sender];
            let Some(code) = own.key_code(sender) else { return false };
            own.olm_stat("own-key-index") >= own_index
                && self.present.iter().filter(|r| *r != sender).all(|receiver| {
                    let theirs = self.members[receiver].key_code(sender);
                    if exact { theirs.as_deref() == Some(code.as_str()) } else { theirs.is_some() }
                })
        })
    }

    /// Waits for the MUC to be quiet and `done` to hold.
    pub fn settle(&self, what: &str, done: impl Fn(&Meeting) -> bool) -> Result<()> {
        let settled = wait_until(TIMEOUT, || self.muc.wait_quiet(TIMEOUT) && done(self));
        if settled { Ok(()) } else { Err(format!("timed out waiting for {what}").into()) }
    }

    /// Everyone in the room sends `video` video frames and `audio` audio frames (the
    /// encoders make one frame of each); waits until the SFU relayed all of them to each
    /// other member, and each receiver decoded or dropped all that it got.
    pub fn send_media(&mut self, video: u64, audio: u64) -> Result<()> {
        let present: Vec<String> = self.present.iter().cloned().collect();
        let mut expected = Vec::new();
        for sender in &present {
            for receiver in present.iter().filter(|r| *r != sender) {
                for (media, count) in [(Media::Video, video), (Media::Audio, audio)] {
                    let relayed = self.sfu.relayed(sender, receiver, media) + count;
                    expected.push((sender.as_str(), receiver.as_str(), media, relayed));
                }
            }
        }
        for id in &present {
            if let Some(member) = self.members.get_mut(id) {
                member.push_media(video, audio)?;
            }
        }
        let delivered = || {
            expected.iter().all(|&(sender, receiver, media, expected)| {
                let member = &self.members[receiver];
                let relayed = self.sfu.relayed(sender, receiver, media);
                relayed >= expected && member.decoded(sender, media) + member.dropped(sender, media) >= relayed
            })
        };
        if !wait_until(TIMEOUT, delivered) {
            return Err("media did not arrive".into());
        }
        Ok(())
    }

    /// `a` starts a SAS verification with `b`; once both see the codes, both confirm.
    /// Gives what each side saw.
    pub fn verify(&self, a: &str, b: &str) -> Result<(Sas, Sas)> {
        let (ma, mb) = (&self.members[a], &self.members[b]);
        ma.olm.emit_by_name::<()>("start-verification", &[&b]);
        let both = || {
            ma.last_message("jframeolm-sas-ready", b).is_some() && mb.last_message("jframeolm-sas-ready", a).is_some()
        };
        self.settle("SAS codes", |_| both())?;
        let sas = |m: &Member, peer: &str| -> Sas {
            let s = m.last_message("jframeolm-sas-ready", peer).unwrap_or_else(|| gst::Structure::new_empty("none"));
            (s.get::<String>("decimal").unwrap_or_default(), s.get::<String>("emoji").unwrap_or_default())
        };
        let (seen_a, seen_b) = (sas(ma, b), sas(mb, a));
        // The users compare the codes and confirm what they see.
        let matches = seen_a == seen_b;
        ma.olm.emit_by_name::<()>("confirm-verification", &[&b, &matches]);
        mb.olm.emit_by_name::<()>("confirm-verification", &[&a, &matches]);
        let done = || {
            ma.last_message("jframeolm-verification", b).is_some()
                && mb.last_message("jframeolm-verification", a).is_some()
        };
        self.settle("verification results", |_| done())?;
        Ok((seen_a, seen_b))
    }

    /// Whether `a` reported `b` verified.
    pub fn verified(&self, a: &str, b: &str) -> bool {
        self.members[a].last_message("jframeolm-verification", b).is_some_and(|s| s.get::<bool>("ok").unwrap_or(false))
    }

    pub fn stop(&self) {
        for member in self.members.values() {
            let _ = member.pipeline.set_state(gst::State::Null);
        }
    }
}

impl Drop for Meeting {
    fn drop(&mut self) {
        self.stop();
    }
}
