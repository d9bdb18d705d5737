//! The wire formats of the Raven chat (docs/RAVEN.md): its UDP datagrams (one JSON object
//! each), its channel names ("namekeys") and the arednlink entries Raven nodes publish to
//! find each other.
//!
//! In scope: bytes in, typed values out, and back. Only what the bridge uses is typed;
//! every other kind of datagram is [`Payload::Other`]. Out of scope: sockets, files, the
//! clock, and what the bridge decides.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::json::{self, parse, parse_lenient, push_value, JsonError, Object, Value};
use super::types::FieldError;

/// The UDP port of every Raven node.
pub const PORT: u16 = 4404;
/// The node id of "every node": channel messages go to it.
pub const BROADCAST: u32 = u32::MAX;
/// The topic of Raven's arednlink entries.
pub const TOPIC: &str = "KN6PLV.raven.v1";
/// Bytes of a datagram Raven reads (its receive buffer).
pub const MAX_DATAGRAM: usize = 65_535;
/// Characters of a channel name in a namekey.
pub const MAX_NAMEKEY_NAME: usize = 13;
/// The key of the channels Raven never carries onto radio networks.
pub const AREDN_ONLY_KEY: &str = "og==";
/// The default Raven channel.
pub const AREDN_CHANNEL: &str = "AREDN og==";
/// Channels listed in one entry that are kept (the rest are ignored).
pub const MAX_ENTRY_CHANNELS: usize = 64;
/// `hw_model` of a Raven node on IP (its `HW_NATIVE`).
pub const HW_NATIVE: u64 = 254;
/// Bytes of a node's long name (Raven cuts at 36 characters).
pub const MAX_LONG_NAME: usize = 36;

/// A Raven channel: `"<name> <base64 key>"`, name of 1 to 13 characters without spaces,
/// key of 1, 16 or 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namekey(String);

impl Namekey {
    /// The wire form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The channel's name (before the space).
    pub fn name(&self) -> &str {
        self.0.split(' ').next().unwrap_or("")
    }

    /// The AREDN-only namekey of a channel name (`x og==`), when Raven accepts the name.
    pub fn aredn(name: &str) -> Option<Namekey> {
        format!("{name} {AREDN_ONLY_KEY}").parse().ok()
    }

    /// True for a namekey with the AREDN-only key.
    pub fn is_aredn_only(&self) -> bool {
        self.0.ends_with(" og==")
    }
}

fn base64_len(key: &str) -> Option<usize> {
    let b = key.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return None;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    let body = &b[..b.len() - pad];
    if pad > 2
        || !body
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    {
        return None;
    }
    Some(b.len() / 4 * 3 - pad)
}

impl FromStr for Namekey {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        let err = |reason| FieldError {
            field: "namekey",
            reason,
        };
        let (name, key) = s.split_once(' ').ok_or(err("must be NAME KEY"))?;
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_NAMEKEY_NAME {
            return Err(err("name must be 1 to 13 characters"));
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("name must not hold spaces or control characters"));
        }
        match base64_len(key) {
            Some(1 | 16 | 32) => Ok(Namekey(s.to_string())),
            _ => Err(err("key must be base64 of 1, 16 or 32 bytes")),
        }
    }
}

impl fmt::Display for Namekey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a datagram was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// Not JSON.
    Json(JsonError),
    /// JSON, but not an object.
    NotObject,
    /// A field the bridge needs is missing or of the wrong type.
    Field(&'static str),
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::Json(e) => e.fmt(f),
            PacketError::NotObject => f.write_str("not a JSON object"),
            PacketError::Field(name) => write!(f, "missing or mistyped field {name}"),
        }
    }
}

impl std::error::Error for PacketError {}

/// What a datagram carries, as far as the bridge cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// `data.text_message`: the text's bytes, unchecked.
    Text(Vec<u8>),
    /// `data.nodeinfo`.
    NodeInfo {
        long_name: Option<Vec<u8>>,
        /// The sender asks for ours.
        want_response: bool,
        /// The request this answers.
        reply_id: Option<u32>,
    },
    /// Anything else (position, telemetry, routing, store requests, ...).
    Other,
}

/// One Raven datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub from: u32,
    pub to: u32,
    pub id: u32,
    /// Bytes of `namekey`, when it is a string.
    pub namekey: Option<Vec<u8>>,
    /// The sender's unix seconds.
    pub rx_time: Option<u64>,
    /// `originating_callsign`, when it is a string.
    pub callsign: Option<Vec<u8>>,
    pub payload: Payload,
}

fn opt_bytes(v: Option<&Value>, name: &'static str) -> Result<Option<Vec<u8>>, PacketError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(PacketError::Field(name)),
    }
}

/// Reads one datagram.
pub fn parse_packet(bytes: &[u8]) -> Result<Packet, PacketError> {
    let v = parse(bytes).map_err(PacketError::Json)?;
    if !matches!(v, Value::Obj(_)) {
        return Err(PacketError::NotObject);
    }
    let u32_of = |name: &'static str| {
        v.get(name)
            .and_then(Value::as_u32)
            .ok_or(PacketError::Field(name))
    };
    let (from, to, id) = (u32_of("from")?, u32_of("to")?, u32_of("id")?);
    let rx_time = match v.get("rx_time") {
        None | Some(Value::Null) => None,
        Some(t) => Some(
            t.as_i64()
                .and_then(|n| u64::try_from(n).ok())
                .ok_or(PacketError::Field("rx_time"))?,
        ),
    };
    let data = v.get("data");
    let payload = match data {
        Some(d @ Value::Obj(_)) => {
            if let Some(t) = d.get("text_message") {
                Payload::Text(
                    t.as_bytes()
                        .ok_or(PacketError::Field("text_message"))?
                        .to_vec(),
                )
            } else if let Some(info) = d.get("nodeinfo") {
                if !matches!(info, Value::Obj(_)) {
                    return Err(PacketError::Field("nodeinfo"));
                }
                Payload::NodeInfo {
                    long_name: opt_bytes(info.get("long_name"), "long_name")?,
                    want_response: d.get("want_response").is_some_and(Value::truthy),
                    reply_id: d.get("reply_id").and_then(Value::as_u32),
                }
            } else {
                Payload::Other
            }
        }
        None | Some(Value::Null) => Payload::Other,
        Some(_) => return Err(PacketError::Field("data")),
    };
    Ok(Packet {
        from,
        to,
        id,
        namekey: opt_bytes(v.get("namekey"), "namekey")?,
        rx_time,
        callsign: opt_bytes(v.get("originating_callsign"), "originating_callsign")?,
        payload,
    })
}

/// The fields every datagram starts with, in Raven's order.
pub struct Header<'a> {
    pub from: u32,
    pub to: u32,
    pub namekey: &'a str,
    pub id: u32,
    pub rx_time: u64,
    /// `hop_limit`: how many Raven bridges may pass it on.
    pub hop_limit: u64,
    pub callsign: Option<&'a str>,
    /// Our program and version (Raven shows its own there).
    pub version: &'a str,
}

impl Header<'_> {
    fn write<'o>(&self, out: &'o mut Vec<u8>) -> Object<'o> {
        let mut o = Object::new(out);
        o.num("from", u64::from(self.from))
            .num("to", u64::from(self.to))
            .str("namekey", self.namekey)
            .num("id", u64::from(self.id))
            .num("rx_time", self.rx_time)
            .num("priority", 64)
            .num("hop_limit", self.hop_limit)
            .str("transport", "native");
        match self.callsign {
            Some(c) => o.str("originating_callsign", c),
            None => o.raw("originating_callsign", b"null"),
        };
        o.str("version", self.version).raw("repo", b"null");
        o
    }
}

/// A channel text message.
pub fn write_text(h: &Header, text: &str) -> Vec<u8> {
    let mut data = Vec::with_capacity(text.len() + 24);
    Object::new(&mut data).str("text_message", text).end();
    let mut out = Vec::with_capacity(data.len() + 256);
    h.write(&mut out).raw("data", &data).end();
    out
}

/// What a node says about itself in a nodeinfo datagram.
pub struct NodeInfo<'a> {
    pub long_name: &'a str,
    pub short_name: &'a str,
    /// Ask the receiver for its own.
    pub want_response: bool,
    /// The request this answers.
    pub reply_id: Option<u32>,
}

/// A nodeinfo datagram. The bridge takes no direct messages, so it says it is
/// unmessagable (Raven then offers none).
pub fn write_nodeinfo(h: &Header, info: &NodeInfo) -> Vec<u8> {
    let mut inner = Vec::with_capacity(160);
    Object::new(&mut inner)
        .str("id", &format!("!{:08x}", h.from))
        .str("long_name", info.long_name)
        .str("short_name", info.short_name)
        .num("hw_model", HW_NATIVE)
        .str("platform", "native")
        .num("role", 1)
        .raw("is_unmessagable", b"true")
        .end();
    let mut data = Vec::with_capacity(inner.len() + 64);
    {
        let mut o = Object::new(&mut data);
        o.raw("nodeinfo", &inner);
        if info.want_response {
            o.raw("want_response", b"true");
        }
        if let Some(r) = info.reply_id {
            o.num("reply_id", u64::from(r));
        }
        o.end();
    }
    let mut out = Vec::with_capacity(data.len() + 256);
    h.write(&mut out).raw("data", &data).end();
    out
}

/// A Raven node as its arednlink entry describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its node id.
    pub id: u32,
    /// Its mesh address.
    pub ip: Ipv4Addr,
    /// The namekeys it listens to (raw bytes: compared, never shown unchecked).
    pub channels: Vec<Vec<u8>>,
    /// The namekeys it stores for others (`*`: all).
    pub store: Vec<Vec<u8>>,
    /// It bridges to a radio network.
    pub bridge: bool,
    /// It is a meshchat bridge (our own marker, which Raven ignores).
    pub meshchat: bool,
    /// Its UDP port when not 4404 (our own field, for tests on one machine).
    pub port: Option<u16>,
}

fn strings(v: Option<&Value>) -> Vec<Vec<u8>> {
    v.and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|s| s.as_bytes().map(<[u8]>::to_vec))
        .take(MAX_ENTRY_CHANNELS)
        .collect()
}

fn entry_of(e: &Value) -> Option<Entry> {
    if e.get("topic")?.as_bytes()? != TOPIC.as_bytes() {
        return None;
    }
    let data = e.get("data")?;
    let ip = std::str::from_utf8(data.get("ip")?.as_bytes()?)
        .ok()?
        .parse()
        .ok()?;
    Some(Entry {
        id: data.get("id")?.as_u32()?,
        ip,
        channels: strings(data.get("channels")),
        store: strings(data.get("store")),
        bridge: data.get("bridge").is_some_and(|b| match b {
            Value::Arr(a) => !a.is_empty(),
            other => other.truthy(),
        }),
        meshchat: data.get("meshchat").is_some(),
        port: data
            .get("port")
            .and_then(Value::as_i64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p != 0),
    })
}

/// Every Raven entry of one file arednlink wrote: `{"<ip>": {"v1": [entry, ...]}, ...}`
/// (with ucode's trailing comma), an entry being `{id, topic, data}`; also a bare
/// `{"v1": [...]}` (a publish file). The count of entries of the Raven topic that did not
/// parse comes second.
pub fn parse_entries(bytes: &[u8]) -> (Vec<Entry>, usize) {
    let Ok(Value::Obj(members)) = parse_lenient(bytes) else {
        return (
            Vec::new(),
            usize::from(!bytes.iter().all(u8::is_ascii_whitespace)),
        );
    };
    let mut out = Vec::new();
    let mut bad = 0;
    let mut take = |list: &Value| {
        for e in list.as_array().unwrap_or(&[]) {
            match entry_of(e) {
                Some(entry) => out.push(entry),
                None if e.get("topic").and_then(Value::as_bytes) == Some(TOPIC.as_bytes()) => {
                    bad += 1
                }
                None => {}
            }
        }
    };
    for (key, v) in &members {
        if key == b"v1" {
            take(v);
        } else if let Some(list) = v.get("v1") {
            take(list);
        }
    }
    (out, bad)
}

/// Our entry's `data`.
pub struct OwnEntry<'a> {
    pub id: u32,
    pub ip: Ipv4Addr,
    pub channels: &'a [Namekey],
    /// Our UDP port, published only when it is not 4404.
    pub port: u16,
    pub version: &'a str,
}

/// A publish file (`{"v1": [...]}`) with our entry `entry_id` put in, replacing any
/// earlier one; every other entry is kept as it was. `None` when the file holds something
/// else than a publish file: it is then left alone.
pub fn publish(existing: &[u8], entry_id: &str, own: Option<&OwnEntry>) -> Option<Vec<u8>> {
    let mut list = if existing.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        match parse_lenient(existing).ok()?.get("v1")? {
            Value::Arr(a) => a.clone(),
            _ => return None,
        }
    };
    list.retain(|e| e.get("id").and_then(Value::as_bytes) != Some(entry_id.as_bytes()));
    if let Some(own) = own {
        let mut data = Vec::with_capacity(256);
        {
            let mut o = Object::new(&mut data);
            o.num("id", u64::from(own.id))
                .str("ip", &own.ip.to_string())
                .str("version", own.version)
                .num("meshchat", 1);
            let mut channels = Vec::new();
            json::push_array(&mut channels, own.channels, |out, n| {
                json::push_str(out, n.as_str())
            });
            o.raw("channels", &channels);
            if own.port != PORT {
                o.num("port", u64::from(own.port));
            }
            o.end();
        }
        let mut entry = Vec::with_capacity(data.len() + 80);
        Object::new(&mut entry)
            .str("id", entry_id)
            .str("topic", TOPIC)
            .raw("data", &data)
            .end();
        list.push(parse(&entry).ok()?);
    }
    let mut out = Vec::with_capacity(existing.len() + 256);
    push_value(
        &mut out,
        &Value::Obj(vec![(b"v1".to_vec(), Value::Arr(list))]),
    );
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A text message as a Raven node sends it (ucode's spacing).
    const RAVEN_TEXT: &[u8] = br#"{ "from": 1447952385, "to": 4294967295, "namekey": "AREDN og==", "id": 1968491793, "rx_time": 1795960975, "priority": 64, "hop_limit": 7, "transport": "native", "originating_callsign": "RVN1", "version": "0.0.0", "repo": null, "data": { "text_message": "hello" } }"#;

    #[test]
    fn namekeys() {
        for good in ["AREDN og==", "ops og==", "ThirteenChars og==", "x AQ=="] {
            let n: Namekey = good.parse().unwrap();
            assert_eq!(n.as_str(), good);
        }
        let k16 = "x 1PG7OiApB1nwvP+rz05pAQ==";
        assert!(k16.parse::<Namekey>().is_ok());
        for bad in [
            "AREDN",
            " og==",
            "FourteenChars! og==",
            "a b og==",
            "x og=",
            "x o!==",
            "x AAAA",
            "x\tq og==",
        ] {
            assert!(bad.parse::<Namekey>().is_err(), "{bad}");
        }
        assert_eq!(Namekey::aredn("ops").unwrap().as_str(), "ops og==");
        assert!(Namekey::aredn("has space").is_none());
        assert!(Namekey::aredn("").is_none());
        assert!(Namekey::aredn("ops").unwrap().is_aredn_only());
        assert_eq!(Namekey::aredn("ops").unwrap().name(), "ops");
    }

    #[test]
    fn reads_a_raven_text_message() {
        let p = parse_packet(RAVEN_TEXT).unwrap();
        assert_eq!(p.from, 1447952385);
        assert_eq!(p.to, BROADCAST);
        assert_eq!(p.id, 1968491793);
        assert_eq!(p.rx_time, Some(1795960975));
        assert_eq!(p.namekey.as_deref(), Some(&b"AREDN og=="[..]));
        assert_eq!(p.callsign.as_deref(), Some(&b"RVN1"[..]));
        assert_eq!(p.payload, Payload::Text(b"hello".to_vec()));
    }

    #[test]
    fn tolerates_raw_high_bytes_and_unknown_fields() {
        // A nodeinfo as ucode writes it: binary key and MAC bytes as they are.
        let mut d = br#"{"from":5,"to":7,"id":9,"namekey":"AREDN og==","data":{"nodeinfo":{"id":"!00000005","long_name":"KN6PLV-hap","macaddr":""#.to_vec();
        d.extend_from_slice(&[0xff, 0x80, 0xc3, 0x41]);
        d.extend_from_slice(br#"","public_key":"\u0001"#);
        d.extend_from_slice(&[0xfe; 31]);
        d.extend_from_slice(
            br#"","hw_model":254,"lat":37.5},"want_response":true},"extra":[1,{"a":null}]}"#,
        );
        let p = parse_packet(&d).unwrap();
        assert_eq!(
            p.payload,
            Payload::NodeInfo {
                long_name: Some(b"KN6PLV-hap".to_vec()),
                want_response: true,
                reply_id: None
            }
        );
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for (bad, why) in [
            (&b"[1]"[..], PacketError::NotObject),
            (
                b"{\"from\":\"5\",\"to\":1,\"id\":1}",
                PacketError::Field("from"),
            ),
            (
                b"{\"from\":-1,\"to\":1,\"id\":1}",
                PacketError::Field("from"),
            ),
            (
                b"{\"from\":4294967296,\"to\":1,\"id\":1}",
                PacketError::Field("from"),
            ),
            (
                b"{\"from\":1,\"to\":1,\"id\":1.5}",
                PacketError::Field("id"),
            ),
            (
                b"{\"from\":1,\"to\":1,\"id\":1,\"data\":{\"text_message\":5}}",
                PacketError::Field("text_message"),
            ),
            (
                b"{\"from\":1,\"to\":1,\"id\":1,\"namekey\":[]}",
                PacketError::Field("namekey"),
            ),
            (
                b"{\"from\":1,\"to\":1,\"id\":1,\"rx_time\":-5}",
                PacketError::Field("rx_time"),
            ),
            (
                b"{\"from\":1,\"to\":1,\"id\":1,\"data\":7}",
                PacketError::Field("data"),
            ),
        ] {
            assert_eq!(
                parse_packet(bad),
                Err(why),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            parse_packet(b"{\"from\":1,"),
            Err(PacketError::Json(_))
        ));
        assert!(matches!(
            parse_packet(&[b'['; 100]),
            Err(PacketError::Json(JsonError::TooDeep))
        ));
        let other =
            parse_packet(b"{\"from\":1,\"to\":1,\"id\":1,\"data\":{\"position\":{}}}").unwrap();
        assert_eq!(other.payload, Payload::Other);
    }

    #[test]
    fn writes_what_it_reads() {
        let h = Header {
            from: 42,
            to: BROADCAST,
            namekey: "AREDN og==",
            id: 7,
            rx_time: 1795960975,
            hop_limit: 7,
            callsign: Some("K1ABC"),
            version: "meshchat 3.0.0",
        };
        let d = write_text(&h, "hi \"there\"\n<b> é");
        let p = parse_packet(&d).unwrap();
        assert_eq!((p.from, p.to, p.id), (42, BROADCAST, 7));
        assert_eq!(p.callsign.as_deref(), Some(&b"K1ABC"[..]));
        assert_eq!(
            p.payload,
            Payload::Text("hi \"there\"\n<b> é".as_bytes().to_vec())
        );
        let v: serde_json::Value = serde_json::from_slice(&d).unwrap();
        assert_eq!(v["transport"], "native");
        assert_eq!(v["repo"], serde_json::Value::Null);
        let n = write_nodeinfo(
            &Header {
                callsign: None,
                ..h
            },
            &NodeInfo {
                long_name: "node-a",
                short_name: "ea",
                want_response: false,
                reply_id: Some(99),
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&n).unwrap();
        assert_eq!(v["data"]["nodeinfo"]["id"], "!0000002a");
        assert_eq!(v["data"]["reply_id"], 99);
        assert_eq!(v["data"]["nodeinfo"]["is_unmessagable"], true);
    }

    #[test]
    fn entries_as_arednlink_writes_them() {
        let mut file = b"{\n\"10.1.2.3\": {\"v1\":[{\"id\":\"KN6PLV.raven.v1.1\",\"topic\":\"KN6PLV.raven.v1\",\"data\":{\"id\":1447952385,\"version\":\"0.0.0\",\"ip\":\"10.1.2.3\",\"private_key\":\"".to_vec();
        file.extend_from_slice(&[0x9f, 0xff, 0x41]);
        file.extend_from_slice(b"\",\"channels\":[\"AREDN og==\",\"ops og==\"],\"store\":[\"*\"]}},{\"id\":\"x\",\"topic\":\"other\",\"data\":{}}]},\n\"10.1.2.4\": {\"v1\":[{\"id\":\"m\",\"topic\":\"KN6PLV.raven.v1\",\"data\":{\"id\":\"bad\"}}]},\n}\n");
        let (entries, bad) = parse_entries(&file);
        assert_eq!(bad, 1);
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.id, 1447952385);
        assert_eq!(e.ip, Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(e.channels, [b"AREDN og==".to_vec(), b"ops og==".to_vec()]);
        assert_eq!(e.store, [b"*".to_vec()]);
        assert!(!e.bridge && !e.meshchat && e.port.is_none());
        assert_eq!(parse_entries(b"garbage").1, 1);
        assert_eq!(parse_entries(b"").1, 0);
    }

    #[test]
    fn publishing_keeps_other_entries() {
        let before = b"{\"v1\":[{\"id\":\"other.app\",\"topic\":\"t\",\"data\":{\"k\":\"\xff\",\"f\":1.25}},{\"id\":\"meshchat.raven.v1\",\"topic\":\"KN6PLV.raven.v1\",\"data\":{}}]}";
        let channels = ["AREDN og==".parse().unwrap()];
        let own = OwnEntry {
            id: 9,
            ip: Ipv4Addr::new(10, 0, 0, 9),
            channels: &channels,
            port: 5000,
            version: "meshchat 3.0.0",
        };
        let after = publish(before, "meshchat.raven.v1", Some(&own)).unwrap();
        assert!(after.windows(4).any(|w| w == b"\"\xff\","), "raw byte kept");
        assert!(after.windows(4).any(|w| w == b"1.25"));
        let (entries, bad) = parse_entries(&after);
        assert_eq!(bad, 0);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id, 9);
        assert!(entries[0].meshchat);
        assert_eq!(entries[0].port, Some(5000));
        let removed = publish(&after, "meshchat.raven.v1", None).unwrap();
        assert_eq!(parse_entries(&removed).0.len(), 0);
        assert!(removed.starts_with(b"{\"v1\":[{\"id\":\"other.app\""));
        assert!(publish(b"", "x", None).is_some());
        assert!(publish(b"[1]", "x", None).is_none());
    }
}
