//! Which MeshChat channel goes to which Raven channel (namekey), both ways.
//!
//! The `raven_channel` options come first. Then, unless `raven_auto_channels` is off,
//! "Everything" (the empty channel) is `AREDN og==` and a channel `x` whose name Raven
//! accepts (1 to 13 characters, no spaces) is `x og==`: AREDN-only keys, which Raven
//! never carries onto radio networks. The channel `AREDN` is left out of the automatic
//! map, so that `AREDN og==` has one MeshChat side.

use crate::protocol::raven::{Namekey, AREDN_CHANNEL};
use crate::protocol::Channel;

/// The channel map.
#[derive(Debug, Clone)]
pub struct ChannelMap {
    explicit: Vec<(Channel, Namekey)>,
    auto: bool,
}

impl ChannelMap {
    pub fn new(explicit: Vec<(Channel, Namekey)>, auto: bool) -> ChannelMap {
        ChannelMap { explicit, auto }
    }

    /// The namekey a MeshChat channel is carried to, if any.
    pub fn to_raven(&self, channel: &str) -> Option<Namekey> {
        if let Some((_, n)) = self.explicit.iter().find(|(c, _)| c.as_str() == channel) {
            return Some(n.clone());
        }
        if !self.auto || channel == "AREDN" {
            return None;
        }
        let namekey = if channel.is_empty() {
            AREDN_CHANNEL.parse().ok()?
        } else {
            Namekey::aredn(channel)?
        };
        // A namekey the options give to another channel is not taken twice.
        (!self.explicit.iter().any(|(_, n)| *n == namekey)).then_some(namekey)
    }

    /// The MeshChat channel a namekey is carried to, if any.
    pub fn to_meshchat(&self, namekey: &[u8]) -> Option<Channel> {
        if let Some((c, _)) = self
            .explicit
            .iter()
            .find(|(_, n)| n.as_str().as_bytes() == namekey)
        {
            return Some(c.clone());
        }
        let namekey: Namekey = std::str::from_utf8(namekey).ok()?.parse().ok()?;
        let channel: Channel = if namekey.as_str() == AREDN_CHANNEL {
            Channel::everything()
        } else if namekey.is_aredn_only() {
            namekey.name().parse().ok()?
        } else {
            return None;
        };
        (self.to_raven(channel.as_str()).as_ref() == Some(&namekey)).then_some(channel)
    }

    /// The explicit pairs, then the automatic rule, for the status page.
    pub fn describe(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .explicit
            .iter()
            .map(|(c, n)| (c.as_str().to_string(), n.as_str().to_string()))
            .collect();
        if self.auto {
            if self.to_raven("").is_some() {
                out.push((String::new(), AREDN_CHANNEL.to_string()));
            }
            out.push(("x".to_string(), "x og==".to_string()));
        }
        out
    }

    /// The namekeys the options name (always listened to).
    pub fn fixed(&self) -> Vec<Namekey> {
        let mut out: Vec<Namekey> = self.explicit.iter().map(|(_, n)| n.clone()).collect();
        if let Some(n) = self.to_raven("") {
            if !out.contains(&n) {
                out.push(n);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(s: &str) -> Channel {
        s.parse().unwrap()
    }

    #[test]
    fn automatic_map() {
        let m = ChannelMap::new(Vec::new(), true);
        assert_eq!(m.to_raven("").unwrap().as_str(), "AREDN og==");
        assert_eq!(m.to_raven("ops").unwrap().as_str(), "ops og==");
        assert_eq!(m.to_raven("AREDN"), None);
        assert_eq!(m.to_raven("has space"), None);
        assert_eq!(m.to_raven("fourteen-chars"), None);
        assert_eq!(m.to_meshchat(b"AREDN og=="), Some(ch("")));
        assert_eq!(m.to_meshchat(b"ops og=="), Some(ch("ops")));
        assert_eq!(m.to_meshchat(b"ops AQ=="), None);
        assert_eq!(m.to_meshchat(b"\xff og=="), None);
        assert_eq!(m.fixed().len(), 1);
    }

    #[test]
    fn options_come_first() {
        let m = ChannelMap::new(
            vec![
                (ch("net"), "Net 1PG7OiApB1nwvP+rz05pAQ==".parse().unwrap()),
                (ch("weather"), "ops og==".parse().unwrap()),
            ],
            true,
        );
        assert_eq!(m.to_raven("net").unwrap().name(), "Net");
        assert_eq!(
            m.to_meshchat(b"Net 1PG7OiApB1nwvP+rz05pAQ=="),
            Some(ch("net"))
        );
        assert_eq!(m.to_meshchat(b"ops og=="), Some(ch("weather")));
        assert_eq!(m.to_raven("ops"), None, "its namekey belongs to weather");
        assert_eq!(m.fixed().len(), 3);
        let off = ChannelMap::new(vec![(ch("net"), "Net og==".parse().unwrap())], false);
        assert_eq!(off.to_raven(""), None);
        assert_eq!(off.to_meshchat(b"AREDN og=="), None);
        assert_eq!(off.describe(), [("net".into(), "Net og==".into())]);
    }
}
