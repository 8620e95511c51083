//! The JSON of lib-jitsi-meet's Olm messages: the envelope
//! `{"type":"olm","olm":{"data":{..},"type":"<message type>"}}`, parsed strictly into
//! [`Incoming`], and written in the reference's key order. The three messages that a protocol
//! version changes (session-init, session-ack, sas-mac) are in `protocol.rs`.

use serde::Serialize;
use serde_json::{Map, Value};
use vodozemac::Curve25519PublicKey;
use vodozemac::olm::OlmMessage;
use zeroize::Zeroize;

use super::error::field;
use super::event::MediaKey;
use super::protocol::{SasMac, SessionAck, SessionInit};
use super::{Error, MAX_MESSAGE_LEN};

pub(crate) type Object = Map<String, Value>;

/// A received Olm message, its fields checked.
pub(crate) enum Incoming {
    SessionInit(SessionInit),
    SessionAck(SessionAck),
    KeyInfo { ciphertext: OlmMessage, uuid: String },
    KeyInfoAck { ciphertext: OlmMessage, uuid: String },
    Error { text: String },
    SasStart { transaction_id: String },
    SasAccept { commitment: String, transaction_id: String },
    SasKey { key: String, transaction_id: String },
    SasMac(SasMac),
}

/// Parses the text of a `<json-message>`.
pub(crate) fn parse(json: &str) -> Result<Incoming, Error> {
    if json.len() > MAX_MESSAGE_LEN {
        return Err(Error::MessageTooLong { len: json.len() });
    }
    let value: Value = serde_json::from_str(json).map_err(|e| Error::InvalidJson(e.to_string()))?;
    let Value::Object(top) = value else { return Err(Error::NotOlm) };
    if top.get("type").and_then(Value::as_str) != Some("olm") {
        return Err(Error::NotOlm);
    }
    let olm = object(top.get("olm"), "olm")?;
    let kind = string(olm, "type", "olm.type")?;
    let data = object(olm.get("data"), "olm.data")?;
    Ok(match kind {
        "session-init" => Incoming::SessionInit(SessionInit::parse(data)?),
        "session-ack" => Incoming::SessionAck(SessionAck::parse(data)?),
        "key-info" => Incoming::KeyInfo { ciphertext: ciphertext(data)?, uuid: uuid(data, "uuid")? },
        "key-info-ack" => Incoming::KeyInfoAck { ciphertext: ciphertext(data)?, uuid: uuid(data, "uuid")? },
        "error" => Incoming::Error { text: string(data, "error", "olm.data.error")?.chars().take(200).collect() },
        "sas-start" => {
            // The responder commits to the JSON of this object; only the reference's one field is
            // accepted, so that the commitment needs no guess at how JavaScript writes others.
            if data.len() != 1 {
                return Err(field("olm.data", "sas-start carries only transactionId"));
            }
            Incoming::SasStart { transaction_id: uuid(data, "transactionId")? }
        }
        "sas-accept" => Incoming::SasAccept {
            commitment: base64_string(data, "commitment", "olm.data.commitment", 43)?,
            transaction_id: uuid(data, "transactionId")?,
        },
        "sas-key" => Incoming::SasKey {
            key: curve25519(data, "key", "olm.data.key")?.to_base64(),
            transaction_id: uuid(data, "transactionId")?,
        },
        "sas-mac" => Incoming::SasMac(SasMac::parse(data)?),
        other => return Err(Error::UnknownMessageType(other.chars().take(40).collect())),
    })
}

/// Writes a message in the reference's layout and key order.
pub(crate) fn envelope(kind: &str, data: impl Serialize) -> String {
    #[derive(Serialize)]
    struct Envelope<'a, D> {
        #[serde(rename = "type")]
        muc_type: &'static str,
        olm: Body<'a, D>,
    }
    #[derive(Serialize)]
    struct Body<'a, D> {
        data: D,
        #[serde(rename = "type")]
        kind: &'a str,
    }
    let message = Envelope { muc_type: "olm", olm: Body { data, kind } };
    serde_json::to_string(&message).unwrap_or_else(|e| unreachable!("our messages serialise: {e}"))
}

/// `key-info` and `key-info-ack`.
pub(crate) fn key_info(kind: &str, ciphertext: &OlmMessage, uuid: &str) -> String {
    #[derive(Serialize)]
    struct Data<'a> {
        ciphertext: &'a OlmMessage,
        uuid: &'a str,
    }
    envelope(kind, Data { ciphertext, uuid })
}

pub(crate) fn error(text: &str) -> String {
    #[derive(Serialize)]
    struct Data<'a> {
        error: &'a str,
    }
    envelope("error", Data { error: text })
}

/// `sas-start`, `sas-accept` (`commitment`) and `sas-key` (`key`) with their transaction id.
pub(crate) fn sas(kind: &str, field: Option<(&str, &str)>, transaction_id: &str) -> String {
    let mut data = Map::new();
    if let Some((name, value)) = field {
        data.insert(name.to_owned(), Value::from(value));
    }
    data.insert("transactionId".to_owned(), Value::from(transaction_id));
    envelope(kind, data)
}

/// What a key-info plaintext (`{}`, `{"key":"<base64>","keyIndex":N}`, `{"key":false,..}`) says.
pub(crate) enum KeyInfo {
    /// No `key` and `keyIndex` pair: the sender has no key yet.
    Nothing,
    Key {
        key: Option<MediaKey>,
        index: u32,
    },
}

/// Parses a decrypted key-info plaintext; the key's text is wiped once decoded.
pub(crate) fn parse_key_info(plaintext: &[u8]) -> Result<KeyInfo, Error> {
    let value: Value = serde_json::from_slice(plaintext).map_err(|e| Error::InvalidJson(e.to_string()))?;
    let Value::Object(mut object) = value else { return Err(field("plaintext", "not an object")) };
    let (key, index) = match (object.remove("key"), object.remove("keyIndex")) {
        (Some(key), Some(index)) => (key, index),
        (Some(mut key), None) => {
            wipe(&mut key);
            return Ok(KeyInfo::Nothing);
        }
        _ => return Ok(KeyInfo::Nothing),
    };
    let index = index
        .as_u64()
        .and_then(|i| u32::try_from(i).ok())
        .ok_or(field("plaintext.keyIndex", "not an integer from 0 to 2^32-1"));
    let key = match key {
        Value::Bool(false) => Ok(None),
        Value::String(mut text) => {
            let key = decode_media_key(&text);
            text.zeroize();
            key.map(Some)
        }
        mut other => {
            wipe(&mut other);
            Err(field("plaintext.key", "neither a string nor false"))
        }
    };
    Ok(KeyInfo::Key { key: key?, index: index? })
}

/// The `key` of a key-info plaintext we send; wiped when dropped.
pub(crate) fn key_info_plaintext(key: Option<&Option<MediaKey>>, index: u32) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(match key {
        None => "{}".to_owned(),
        Some(None) => format!("{{\"key\":false,\"keyIndex\":{index}}}"),
        Some(Some(key)) => {
            let mut text = vodozemac::base64_encode(key.as_bytes());
            text.push('='); // base64-js writes (and wants) padding: 32 bytes are 43 characters and one `=`
            let plaintext = format!("{{\"key\":\"{text}\",\"keyIndex\":{index}}}");
            text.zeroize();
            plaintext
        }
    })
}

fn decode_media_key(text: &str) -> Result<MediaKey, Error> {
    let problem = field("plaintext.key", "not padded base64 of 32 bytes");
    // Padded, as base64-js writes it; vodozemac's decoder takes either form.
    if text.len() != 44 || !text.ends_with('=') || text[..43].contains('=') {
        return Err(problem);
    }
    let mut bytes = vodozemac::base64_decode(text).map_err(|_| problem.clone())?;
    let key = <[u8; 32]>::try_from(bytes.as_slice()).map(MediaKey::from_bytes).map_err(|_| problem);
    bytes.zeroize();
    key
}

fn wipe(value: &mut Value) {
    if let Value::String(text) = value {
        text.zeroize();
    }
}

pub(crate) fn object<'a>(value: Option<&'a Value>, name: &'static str) -> Result<&'a Object, Error> {
    match value {
        Some(Value::Object(object)) => Ok(object),
        Some(_) => Err(field(name, "not an object")),
        None => Err(field(name, "missing")),
    }
}

pub(crate) fn string<'a>(object: &'a Object, key: &str, name: &'static str) -> Result<&'a str, Error> {
    match object.get(key) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(field(name, "not a string")),
        None => Err(field(name, "missing")),
    }
}

/// A uuid as the reference makes them (v4, `8-4-4-4-12` hex digits).
pub(crate) fn uuid(object: &Object, key: &'static str) -> Result<String, Error> {
    let name = if key == "uuid" { "olm.data.uuid" } else { "olm.data.transactionId" };
    let text = string(object, key, name)?;
    let well_formed = text.len() == 36
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() });
    if well_formed { Ok(text.to_owned()) } else { Err(field(name, "not a uuid")) }
}

/// Unpadded base64 of `len` characters (the reference's keys, commitments and MACs).
pub(crate) fn base64_string(object: &Object, key: &str, name: &'static str, len: usize) -> Result<String, Error> {
    let text = string(object, key, name)?;
    if text.len() != len || vodozemac::base64_decode(text).is_err() {
        return Err(field(name, "not unpadded base64 of the right length"));
    }
    Ok(text.to_owned())
}

/// A curve25519 public key in unpadded base64.
pub(crate) fn curve25519(object: &Object, key: &str, name: &'static str) -> Result<Curve25519PublicKey, Error> {
    let text = base64_string(object, key, name, 43)?;
    Curve25519PublicKey::from_base64(&text).map_err(|_| field(name, "not a curve25519 key"))
}

/// `ciphertext: {type: 0|1, body}`, decoded into an Olm message.
pub(crate) fn ciphertext(data: &Object) -> Result<OlmMessage, Error> {
    let ciphertext = object(data.get("ciphertext"), "olm.data.ciphertext")?;
    let kind = match ciphertext.get("type").and_then(Value::as_u64) {
        Some(kind @ (0 | 1)) => kind as usize,
        Some(_) => return Err(field("olm.data.ciphertext.type", "neither 0 nor 1")),
        None => return Err(field("olm.data.ciphertext.type", "missing or not a number")),
    };
    let body = string(ciphertext, "body", "olm.data.ciphertext.body")?;
    let bytes = vodozemac::base64_decode(body).map_err(|_| field("olm.data.ciphertext.body", "not base64"))?;
    OlmMessage::from_parts(kind, &bytes).map_err(|e| Error::Olm(e.to_string()))
}
