//! Interop with a browser: headless Chromium and a GStreamer `webrtcbin` in one WebRTC
//! call over 127.0.0.1, media encrypted with JFrame both ways.
//!
//! Chromium's fake camera and microphone are encrypted in the page (tests/browser:
//! page.html, worker.js, jframe.js) and go through webrtcbin, the depayloaders,
//! `jframedec` and the decoders here; videotestsrc and audiotestsrc go through the
//! encoders, `jframeenc`, the payloaders and webrtcbin to the page, which decrypts and
//! plays them. Signalling, commands for the page and its reports go over HTTP on
//! 127.0.0.1. Chromium is installed from Debian (`apt-get install chromium`) if missing.
//!
//! `JFRAME_JS=<path>` serves another implementation of jframe.js's interface to the page.

#[path = "browser/chromium.rs"]
mod chromium;
#[path = "browser/http.rs"]
mod http;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, mpsc};
use std::time::{Duration, Instant};

use gst::prelude::*;
use serde_json::{Value, json};

use chromium::Chromium;
use http::{Request, Response};

/// The whole call, browser start included, must be over by then.
const HARD_TIMEOUT: Duration = Duration::from_secs(300);
/// Browser start, page load, ICE and DTLS on two loaded cores.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Frames each way the call must show.
const MIN_FRAMES: u64 = 100;
/// Frames that show a key change or a ratchet took effect.
const FRAMES_AFTER_CHANGE: u64 = 30;
/// Video frames the page loses on purpose, so that Chromium asks for a key frame.
const LOST_FRAMES: u64 = 15;

/// Key material GStreamer sends with (jframeenc) and receives with (jframedec), index 0.
const GST_SEND_KEY: [u8; 32] = *b"gst-to-page key material 0123456";
const GST_RECV_KEY: [u8; 32] = *b"page-to-gst key material 0123456";
/// Keys of the key changes during the call, and their indexes.
const NEW_GST_SEND_KEY: [u8; 32] = *b"gst-to-page key material, index5";
const NEW_GST_SEND_INDEX: u32 = 5;
const NEW_PAGE_SEND_KEY: [u8; 32] = *b"page-to-gst key material, index3";
const NEW_PAGE_SEND_INDEX: u32 = 3;

const SEND_PIPELINE: &str = "webrtcbin name=webrtc bundle-policy=max-bundle \
    videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
    ! vp8enc name=vp8enc deadline=1 keyframe-max-dist=100000 ! jframeenc name=videoenc \
    ! jframevp8pay pt=96 \
    ! application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000,rtcp-fb-nack-pli=(boolean)true \
    ! webrtc. \
    audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! jframeenc name=audioenc \
    ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 \
    ! webrtc.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
}

use Kind::{Audio, Video};

impl Kind {
    const BOTH: [Kind; 2] = [Video, Audio];

    fn name(self) -> &'static str {
        match self {
            Video => "video",
            Audio => "audio",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One browser call at a time: each runs Chromium and four codecs.
fn one_call_at_a_time() -> MutexGuard<'static, ()> {
    static CALLS: Mutex<()> = Mutex::new(());
    CALLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstjframe::plugin_register_static().expect("the jframe plugin registers");
    });
}

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn key_buffer(key: &[u8]) -> gst::Buffer {
    gst::Buffer::from_slice(key.to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[path = "../examples/common/loopback_ice.rs"]
mod loopback_ice;

#[path = "vector_file/mod.rs"]
mod vector_file;

/// The signalling state the page and the test share.
#[derive(Default)]
struct PageLink {
    offer: Option<String>,
    /// webrtcbin's candidates, for the page.
    candidates: Vec<Value>,
    /// Commands for the page, ids 1, 2, ...
    commands: Vec<Value>,
    /// The page's last report.
    report: Value,
    /// What the page logged, and problems met on the way.
    log: Vec<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn page_file(name: &str) -> Option<(PathBuf, &'static str)> {
    let path = match name {
        "/jframe.js" => std::env::var_os("JFRAME_JS").map_or_else(|| browser_dir().join("jframe.js"), PathBuf::from),
        "/page.html" | "/worker.js" => browser_dir().join(&name[1..]),
        _ => return None,
    };
    let content_type = if name.ends_with(".html") { "text/html" } else { "text/javascript" };
    Some((path, content_type))
}

fn handle(request: &Request, link: &Mutex<PageLink>, webrtcbin: &gst::Element) -> Response {
    let from = |name| request.param(name).and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/poll") => {
            let link = lock(link);
            let news = json!({
                "offer": link.offer,
                "candidates": link.candidates.get(from("candidates")..).unwrap_or_default(),
                "commands": link.commands.get(from("commands")..).unwrap_or_default(),
            });
            Response::ok("application/json", news.to_string())
        }
        ("POST", "/answer") => match gst_sdp::SDPMessage::parse_buffer(&request.body) {
            Ok(sdp) => {
                let answer = gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, sdp);
                webrtcbin.emit_by_name::<()>("set-remote-description", &[&answer, &None::<gst::Promise>]);
                Response::ok("text/plain", "")
            }
            Err(e) => Response::error(400, format!("bad SDP: {e}")),
        },
        ("POST", "/candidate") => {
            let Ok(candidate) = serde_json::from_slice::<Value>(&request.body) else {
                return Response::error(400, "bad candidate");
            };
            let text = candidate["candidate"].as_str().unwrap_or_default();
            let mline = candidate["sdpMLineIndex"].as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
            if loopback_ice::is_loopback_candidate(text) {
                webrtcbin.emit_by_name::<()>("add-ice-candidate", &[&mline, &text]);
            }
            Response::ok("text/plain", "")
        }
        ("POST", "/report") => {
            lock(link).report = serde_json::from_slice(&request.body).unwrap_or_default();
            Response::ok("text/plain", "")
        }
        ("POST", "/log") => {
            let line = String::from_utf8_lossy(&request.body).into_owned();
            eprintln!("page: {line}");
            lock(link).log.push(line);
            Response::ok("text/plain", "")
        }
        ("GET", path) => match page_file(path) {
            Some((file, content_type)) => match std::fs::read(&file) {
                Ok(body) => Response::ok(content_type, body),
                Err(e) => Response::error(500, format!("{}: {e}", file.display())),
            },
            None => Response::error(404, "not found"),
        },
        _ => Response::error(404, "not found"),
    }
}

/// GStreamer's receiving side of one kind of media.
#[derive(Clone)]
struct Inbound {
    jframedec: gst::Element,
    decoded: Arc<AtomicU64>,
    /// `ratcheted(key index, steps)` signals of jframedec.
    ratcheted: Arc<Mutex<Vec<(u32, u32)>>>,
}

/// Builds `depayloader ! jframedec ! decoder ! fakesink` for a webrtcbin source pad.
fn link_inbound(pipeline: &gst::Pipeline, pad: &gst::Pad, key: &[u8]) -> Result<(Kind, Inbound), String> {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let encoding = caps.structure(0).and_then(|s| s.get::<&str>("encoding-name").ok()).unwrap_or_default();
    let (kind, chain) = match encoding {
        "VP8" => (
            Video,
            "rtpvp8depay request-keyframe=true wait-for-keyframe=true ! jframedec name=dec ! vp8dec \
             ! fakesink name=sink sync=false",
        ),
        "OPUS" => (Audio, "rtpopusdepay ! jframedec name=dec ! opusdec ! fakesink name=sink sync=false"),
        _ => return Err(format!("unexpected stream from the page: {caps}")),
    };
    let bin = gst::parse::bin_from_description(chain, true).map_err(|e| e.to_string())?;
    let jframedec = bin.by_name("dec").ok_or("no jframedec")?;
    jframedec.set_property("key-index", 0u32);
    jframedec.set_property("key", key_buffer(key));
    let inbound = Inbound {
        jframedec: jframedec.clone(),
        decoded: Arc::new(AtomicU64::new(0)),
        ratcheted: Arc::new(Mutex::new(Vec::new())),
    };
    let ratcheted = inbound.ratcheted.clone();
    jframedec.connect("ratcheted", false, move |args| {
        let index = args[1].get::<u32>().unwrap_or(u32::MAX);
        let steps = args[2].get::<u32>().unwrap_or(0);
        lock(&ratcheted).push((index, steps));
        None
    });
    let decoded = inbound.decoded.clone();
    let sink_pad = bin.by_name("sink").and_then(|sink| sink.static_pad("sink")).ok_or("no fakesink")?;
    sink_pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        decoded.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
    pipeline.add(&bin).map_err(|e| e.to_string())?;
    bin.sync_state_with_parent().map_err(|e| e.to_string())?;
    let bin_sink = bin.static_pad("sink").ok_or("no sink pad on the bin")?;
    pad.link(&bin_sink).map_err(|e| format!("cannot link the {} stream: {e:?}", kind.name()))?;
    Ok((kind, inbound))
}

/// Ends the process if the call outlives the hard timeout, killing the browser first:
/// a hung wait must not hang `cargo test`.
struct Watchdog {
    done: Arc<AtomicBool>,
    browser: Arc<Mutex<Option<chromium::Remains>>>,
}

impl Watchdog {
    fn start(limit: Duration) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let browser = Arc::new(Mutex::new(None::<chromium::Remains>));
        let (thread_done, thread_browser) = (done.clone(), browser.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < limit {
                if thread_done.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            eprintln!("browser test: no result after {limit:?} (hard timeout); killing Chromium and exiting");
            if let Some(browser) = lock(&thread_browser).as_ref() {
                browser.clear();
            }
            std::process::exit(1);
        });
        Watchdog { done, browser }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// What both sides have counted so far.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    /// By `Kind::index`: frames out of GStreamer's decoders, and jframedec's counters.
    gst_decoded: [u64; 2],
    gst_decrypted: [u64; 2],
    gst_failures: [u64; 2],
    gst_ratcheted: [Vec<(u32, u32)>; 2],
    /// jframeenc's frames encrypted and dropped.
    gst_encrypted: [u64; 2],
    gst_send_failures: [u64; 2],
    /// Key-unit requests that reached vp8enc.
    key_unit_requests: u64,
    page: Value,
}

impl Snapshot {
    /// A number from the page's report, 0 if absent.
    fn page(&self, pointer: &str) -> u64 {
        self.page.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
    }

    /// Frames that failed so far: GStreamer receiving, GStreamer sending, the page receiving.
    fn failures(&self) -> ([u64; 2], [u64; 2], [u64; 2]) {
        let page = [self.page("/counts/failures/video"), self.page("/counts/failures/audio")];
        (self.gst_failures, self.gst_send_failures, page)
    }
}

const NO_FAILURES: ([u64; 2], [u64; 2], [u64; 2]) = ([0; 2], [0; 2], [0; 2]);

const DROP_COUNTERS: [&str; 4] =
    ["dropped-no-key", "dropped-unknown-key-index", "dropped-authentication-failed", "dropped-malformed"];

fn counter(element: &gst::Element, field: &str) -> u64 {
    element.property::<gst::Structure>("stats").get::<u64>(field).unwrap_or(0)
}

fn drops(element: &gst::Element) -> u64 {
    DROP_COUNTERS.iter().map(|field| counter(element, field)).sum()
}

/// Waits for a promise's reply, at most `limit`.
fn promise_reply(limit: Duration, emit: impl FnOnce(gst::Promise)) -> Result<gst::Structure, String> {
    let (sender, receiver) = mpsc::channel();
    let promise = gst::Promise::with_change_func(move |reply| {
        let _ = sender.send(match reply {
            Ok(Some(reply)) => Ok(reply.to_owned()),
            other => Err(format!("{other:?}")),
        });
    });
    emit(promise);
    receiver.recv_timeout(limit).map_err(|_| format!("no reply within {limit:?}"))?
}

/// A running call: the GStreamer pipeline, the signalling server and Chromium.
struct Call {
    started: Instant,
    pipeline: gst::Pipeline,
    encoders: [gst::Element; 2],
    key_unit_requests: Arc<AtomicU64>,
    inbound: Arc<Mutex<BTreeMap<&'static str, Inbound>>>,
    link: Arc<Mutex<PageLink>>,
    browser: Option<Chromium>,
    /// With the right keys, the first failed frame ends the test.
    fail_fast: bool,
    _server: http::Server,
    _watchdog: Watchdog,
}

impl Call {
    /// Starts a call; the page sends with `page_send_key` and receives with
    /// `page_recv_key`, both at index 0. With the keys GStreamer uses, any frame that
    /// fails ends the test.
    fn start(page_send_key: &[u8], page_recv_key: &[u8]) -> Call {
        let fail_fast = page_send_key == GST_RECV_KEY && page_recv_key == GST_SEND_KEY;
        chromium::ensure_installed().expect("Chromium is installed or installable");
        init();
        let started = Instant::now();
        let watchdog = Watchdog::start(HARD_TIMEOUT);

        let pipeline = gst::parse::launch(SEND_PIPELINE)
            .expect("the send pipeline builds (is jframevp8pay registered?)")
            .downcast::<gst::Pipeline>()
            .expect("a pipeline");
        let element = |name: &str| pipeline.by_name(name).unwrap_or_else(|| panic!("no {name}"));
        let webrtcbin = element("webrtc");
        loopback_ice::use_loopback_only(&webrtcbin).expect("ICE on loopback");
        let encoders = [element("videoenc"), element("audioenc")];
        for encoder in &encoders {
            encoder.set_property("key-index", 0u32);
            encoder.set_property("key", key_buffer(&GST_SEND_KEY));
        }

        // Key-frame requests from Chromium must travel up to the encoder.
        let key_unit_requests = Arc::new(AtomicU64::new(0));
        let requests = key_unit_requests.clone();
        element("vp8enc").static_pad("src").expect("vp8enc src").add_probe(
            gst::PadProbeType::EVENT_UPSTREAM,
            move |_, info| {
                if let Some(gst::PadProbeData::Event(event)) = &info.data
                    && event.structure().is_some_and(|s| s.name() == "GstForceKeyUnit")
                {
                    requests.fetch_add(1, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            },
        );

        let link = Arc::new(Mutex::new(PageLink::default()));
        let page_link = link.clone();
        webrtcbin.connect("on-ice-candidate", false, move |args| {
            let mline = args[1].get::<u32>().unwrap_or(0);
            let candidate = args[2].get::<String>().unwrap_or_default();
            if loopback_ice::is_loopback_candidate(&candidate) {
                lock(&page_link).candidates.push(json!({"candidate": candidate, "sdpMLineIndex": mline}));
            }
            None
        });

        let inbound = Arc::new(Mutex::new(BTreeMap::new()));
        let (weak_pipeline, streams, pad_link) = (pipeline.downgrade(), inbound.clone(), link.clone());
        webrtcbin.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak_pipeline.upgrade() else { return };
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            match link_inbound(&pipeline, pad, &GST_RECV_KEY) {
                Ok((kind, stream)) => {
                    lock(&streams).insert(kind.name(), stream);
                }
                Err(e) => lock(&pad_link).log.push(format!("webrtcbin pad {}: {e}", pad.name())),
            }
        });

        let (server_link, server_webrtcbin) = (link.clone(), webrtcbin.clone());
        let server = http::Server::start(move |request| handle(request, &server_link, &server_webrtcbin))
            .expect("the signalling server starts");

        pipeline.set_state(gst::State::Playing).expect("the pipeline plays");
        let mut call = Call {
            started,
            pipeline,
            encoders,
            key_unit_requests,
            inbound,
            link,
            browser: None,
            fail_fast,
            _server: server,
            _watchdog: watchdog,
        };
        // webrtcbin can only offer once every input has caps.
        call.wait("caps on every webrtcbin input", STEP_TIMEOUT, |_| {
            webrtcbin.sink_pads().iter().all(|pad| pad.current_caps().is_some())
        });
        let reply = promise_reply(STEP_TIMEOUT, |promise| {
            webrtcbin.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
        })
        .expect("webrtcbin creates an offer");
        let offer = reply
            .get::<gst_webrtc::WebRTCSessionDescription>("offer")
            .unwrap_or_else(|e| panic!("no offer in {reply}: {e}"));
        webrtcbin.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
        lock(&call.link).offer = Some(offer.sdp().as_text().expect("the offer prints"));

        let url = format!(
            "http://127.0.0.1:{}/page.html?sendKey={}&sendIndex=0&recvKey={}&recvIndex=0",
            call._server.port(),
            hex(page_send_key),
            hex(page_recv_key)
        );
        let browser = Chromium::launch(&url).expect("Chromium starts");
        *lock(&call._watchdog.browser) = Some(browser.remains());
        call.browser = Some(browser);
        call
    }

    fn inbound(&self, kind: Kind) -> Option<Inbound> {
        lock(&self.inbound).get(kind.name()).cloned()
    }

    fn decoders(&self) -> Vec<gst::Element> {
        Kind::BOTH.iter().filter_map(|&kind| self.inbound(kind)).map(|i| i.jframedec).collect()
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot { page: lock(&self.link).report.clone(), ..Snapshot::default() };
        for kind in Kind::BOTH {
            let i = kind.index();
            if let Some(inbound) = self.inbound(kind) {
                s.gst_decoded[i] = inbound.decoded.load(Ordering::Relaxed);
                s.gst_decrypted[i] = counter(&inbound.jframedec, "frames-processed");
                s.gst_failures[i] = drops(&inbound.jframedec);
                s.gst_ratcheted[i] = lock(&inbound.ratcheted).clone();
            }
            s.gst_encrypted[i] = counter(&self.encoders[i], "frames-processed");
            s.gst_send_failures[i] = drops(&self.encoders[i]);
        }
        s.key_unit_requests = self.key_unit_requests.load(Ordering::Relaxed);
        s
    }

    /// Polls until `done` holds, failing with everything known after `limit` or on
    /// a pipeline error.
    fn wait(&self, what: &str, limit: Duration, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(message) = self.pipeline.bus().and_then(|bus| bus.pop_filtered(&[gst::MessageType::Error])) {
                self.fail(&format!("pipeline error while waiting for {what}: {message:?}"));
            }
            let snapshot = self.snapshot();
            if self.fail_fast && snapshot.failures() != NO_FAILURES {
                self.fail(&format!("frames failed while waiting for {what}"));
            }
            if done(&snapshot) {
                return snapshot;
            }
            if Instant::now() > deadline {
                self.fail(&format!("no {what} within {limit:?}"));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn fail(&self, why: &str) -> ! {
        let log = self.browser.as_ref().map(|b| b.log_tail(30)).unwrap_or_default();
        panic!("{why}\n{:#?}\nlog: {:?}\nChromium log (end):\n{log}", self.snapshot(), lock(&self.link).log);
    }

    /// Sends a command to the page and waits until the page applied it.
    fn command(&self, mut command: Value) {
        let id = {
            let mut link = lock(&self.link);
            let id = link.commands.len() as u64 + 1;
            command["id"] = id.into();
            link.commands.push(command.clone());
            id
        };
        self.wait(&format!("the page applying {command}"), STEP_TIMEOUT, |s| s.page("/commandsApplied") >= id);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Chromium first, so that it does not wait on a peer that is going away.
        self.browser.take();
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[test]
fn chromium_and_gstreamer_exchange_encrypted_media_both_ways() {
    let _one = one_call_at_a_time();
    let call = Call::start(&GST_RECV_KEY, &GST_SEND_KEY);
    let v = Video.index();
    let a = Audio.index();

    call.wait("media decrypted and decoded both ways", CONNECT_TIMEOUT, |s| {
        s.gst_decoded[v] >= FRAMES_AFTER_CHANGE
            && s.gst_decoded[a] >= FRAMES_AFTER_CHANGE
            && s.page("/video/framesDecoded") >= FRAMES_AFTER_CHANGE
            && s.page("/counts/decrypted/audio") >= FRAMES_AFTER_CHANGE
    });
    let connected_after = call.started.elapsed();

    // Chromium loses video frames and asks for a key frame; vp8enc makes none by itself
    // during the call, so decoding resumes only if the request reaches it.
    let before = call.snapshot();
    call.command(json!({"op": "loseIncoming", "kind": "video", "frames": LOST_FRAMES}));
    call.wait("Chromium decoding again after the key frame it asked for", STEP_TIMEOUT, |s| {
        s.page("/counts/lost/video") >= LOST_FRAMES
            && s.key_unit_requests > before.key_unit_requests
            && s.page("/video/keyFramesDecoded") > before.page("/video/keyFramesDecoded")
            && s.page("/video/framesDecoded") >= before.page("/video/framesDecoded") + FRAMES_AFTER_CHANGE
    });

    // Chromium -> GStreamer: a new key at a new index, receivers first.
    for jframedec in call.decoders() {
        let set = jframedec.emit_by_name::<bool>("set-key", &[&NEW_PAGE_SEND_INDEX, &key_buffer(&NEW_PAGE_SEND_KEY)]);
        assert!(set, "jframedec takes the new key");
    }
    call.command(json!({"op": "setKey", "side": "send", "index": NEW_PAGE_SEND_INDEX, "key": hex(&NEW_PAGE_SEND_KEY)}));
    let before = call.snapshot();
    call.wait("GStreamer decrypting under the page's new key", STEP_TIMEOUT, |s| {
        Kind::BOTH.iter().all(|k| s.gst_decrypted[k.index()] >= before.gst_decrypted[k.index()] + FRAMES_AFTER_CHANGE)
    });

    // GStreamer -> Chromium: the same, the page's receiver first.
    call.command(json!({"op": "setKey", "side": "recv", "index": NEW_GST_SEND_INDEX, "key": hex(&NEW_GST_SEND_KEY)}));
    for jframeenc in &call.encoders {
        let set = jframeenc.emit_by_name::<bool>("set-key", &[&NEW_GST_SEND_INDEX, &key_buffer(&NEW_GST_SEND_KEY)]);
        assert!(set, "jframeenc takes the new key");
    }
    let new_kid = |kind: Kind| format!("/counts/decryptedByKid/{}/{NEW_GST_SEND_INDEX}", kind.name());
    call.wait("the page decrypting under GStreamer's new key", STEP_TIMEOUT, |s| {
        Kind::BOTH.iter().all(|&k| s.page(&new_kid(k)) >= FRAMES_AFTER_CHANGE)
    });

    // The page's sender ratchets its key; jframedec follows.
    call.command(json!({"op": "ratchet", "side": "send"}));
    call.wait("jframedec following the page's ratchet", STEP_TIMEOUT, |s| {
        s.gst_ratcheted.iter().all(|r| r.contains(&(NEW_PAGE_SEND_INDEX, 1)))
    });

    // jframeenc ratchets; the page follows.
    for jframeenc in &call.encoders {
        assert!(jframeenc.emit_by_name::<bool>("ratchet", &[]), "jframeenc ratchets");
    }
    let s_ratchet = call.wait("the page following GStreamer's ratchet", STEP_TIMEOUT, |s| {
        s.page("/counts/autoRatchets/video") >= 1 && s.page("/counts/autoRatchets/audio") >= 1
    });

    let enough = |before: u64| (before + FRAMES_AFTER_CHANGE).max(MIN_FRAMES);
    let s = call.wait("enough frames both ways, also after the ratchets", STEP_TIMEOUT, |s| {
        Kind::BOTH.iter().all(|k| {
            let i = k.index();
            s.gst_decoded[i] >= enough(s_ratchet.gst_decoded[i]) && s.gst_decrypted[i] >= MIN_FRAMES
        }) && s.page("/video/framesDecoded") >= enough(s_ratchet.page("/video/framesDecoded"))
            && s.page(&new_kid(Audio)) >= s_ratchet.page(&new_kid(Audio)) + FRAMES_AFTER_CHANGE
            && s.page("/audio/totalSamplesReceived") > 0
    });

    assert_eq!(s.failures(), NO_FAILURES, "no frame failed (receive, send, page receive)\n{s:#?}");
    for kind in Kind::BOTH {
        let name = kind.name();
        assert!(s.page(&format!("/counts/encrypted/{name}")) >= MIN_FRAMES, "the page's sender transform saw {name}");
        assert_eq!(s.page(&format!("/counts/sendDropped/{name}")), 0, "{s:#?}");
        assert_eq!(s.page(&format!("/counts/sendErrors/{name}")), 0, "{s:#?}");
        assert_eq!(s.gst_ratcheted[kind.index()], [(NEW_PAGE_SEND_INDEX, 1)], "jframedec followed one ratchet");
    }
    assert_eq!(s.page.pointer("/errors"), Some(&json!([])), "the page's commands all worked");
    assert_eq!(s.page.pointer("/candidatePair"), Some(&json!({"local": "127.0.0.1", "remote": "127.0.0.1"})));

    println!(
        "browser interop: connected after {connected_after:.1?}, done after {:.1?}\n\
         Chromium -> GStreamer: video {} decrypted, {} decoded; audio {} decrypted, {} decoded; failures {:?}; \
         ratchets followed {:?}\n\
         GStreamer -> Chromium: video {} frames encrypted, {} decoded by Chromium (PLIs {}, key-unit requests \
         at vp8enc {}); audio {} frames encrypted, {} decrypted, {} samples received; failures {:?}; page \
         auto-ratchets video {} audio {}; page sender transform saw video {} audio {}",
        call.started.elapsed(),
        s.gst_decrypted[v],
        s.gst_decoded[v],
        s.gst_decrypted[a],
        s.gst_decoded[a],
        s.gst_failures,
        s.gst_ratcheted,
        s.gst_encrypted[v],
        s.page("/video/framesDecoded"),
        s.page("/video/pliCount"),
        s.key_unit_requests,
        s.gst_encrypted[a],
        s.page("/counts/decrypted/audio"),
        s.page("/audio/totalSamplesReceived"),
        [s.page("/counts/failures/video"), s.page("/counts/failures/audio")],
        s.page("/counts/autoRatchets/video"),
        s.page("/counts/autoRatchets/audio"),
        s.page("/counts/encrypted/video"),
        s.page("/counts/encrypted/audio"),
    );
}

#[test]
fn wrong_keys_decrypt_nothing_either_way() {
    let _one = one_call_at_a_time();
    let wrong = |key: &[u8; 32]| key.map(|b| b ^ 0x55);
    let call = Call::start(&wrong(&GST_RECV_KEY), &wrong(&GST_SEND_KEY));
    let s = call.wait("failures counted both ways", CONNECT_TIMEOUT, |s| {
        Kind::BOTH.iter().all(|k| {
            s.gst_failures[k.index()] >= FRAMES_AFTER_CHANGE
                && s.page(&format!("/counts/failures/{}", k.name())) >= FRAMES_AFTER_CHANGE
        })
    });
    assert_eq!((s.gst_decrypted, s.gst_decoded), ([0, 0], [0, 0]), "GStreamer decrypted nothing\n{s:#?}");
    let page_decrypted = [s.page("/counts/decrypted/video"), s.page("/counts/decrypted/audio")];
    assert_eq!(page_decrypted, [0, 0], "the page decrypted nothing\n{s:#?}");
    assert_eq!(s.page("/video/framesDecoded"), 0, "Chromium decoded no video\n{s:#?}");
    println!(
        "wrong keys: GStreamer failures {:?} (video, audio), page failures {:?}, after {:.1?}",
        s.gst_failures,
        [s.page("/counts/failures/video"), s.page("/counts/failures/audio")],
        call.started.elapsed()
    );
}

/// jframe.js against the reference vectors, under node.
#[test]
fn jframe_js_passes_reference_vectors() {
    let vectors = vector_file::path("JFRAME_VECTORS", "jframe-vectors.json");
    let output = Command::new("node").arg(browser_dir().join("vectors.js")).arg(&vectors).output().expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("jframe.js: {stdout}");
    assert!(output.status.success(), "jframe.js fails vectors:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
}
