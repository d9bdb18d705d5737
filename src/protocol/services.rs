//! The service lists the routing layer distributes, in both formats of docs/PROTOCOL.md
//! ("Peer discovery"): arednlink blocks and the OLSR services file.
//!
//! Only MeshChat entries (`http://HOST:PORT/meshchat|tcp|NAME`) are returned; a HOST that
//! is not a valid node name is counted and dropped, so it never reaches a URL or a shell.

use super::types::NodeName;

/// A MeshChat service advertised somewhere on the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The advertising host.
    pub host: NodeName,
    /// Its HTTP port (8080 on a node).
    pub port: u16,
    /// The service name minus its ` [icon]` suffix: the zone.
    pub zone: String,
}

/// What a service file held: MeshChat services, and how many MeshChat-looking lines were
/// refused.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub services: Vec<Service>,
    pub rejected: usize,
}

/// Strips an optional ` [icon]` suffix from a service name.
pub fn zone_of(name: &str) -> &str {
    let name = name.trim();
    match name.rfind(" [") {
        Some(i) if name.ends_with(']') => name[..i].trim_end(),
        _ => name,
    }
}

/// Parses one file of `/var/run/arednlink/services/` (`##ip##` headers, then entries) or
/// `/var/run/services_olsr` (entries, each possibly followed by `\t# comment`): the entry
/// syntax is the same, so one parser reads both.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // OLSR appends "\t# comment"; a service name never holds a TAB.
        let entry = line.split('\t').next().unwrap_or("");
        let mut parts = entry.splitn(3, '|');
        let (Some(url), Some(proto), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(rest) = url.strip_prefix("http://") else {
            continue;
        };
        let Some((hostport, path)) = rest.split_once('/') else {
            continue;
        };
        if path != "meshchat" || proto != "tcp" {
            continue;
        }
        let Some((host, port)) = hostport.rsplit_once(':') else {
            out.rejected += 1;
            continue;
        };
        match (host.parse::<NodeName>(), port.parse::<u16>()) {
            (Ok(host), Ok(port)) if port > 0 => out.services.push(Service {
                host,
                port,
                zone: zone_of(name).to_string(),
            }),
            _ => out.rejected += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arednlink_blocks() {
        let p = parse(
            "##10.54.12.3##\nhttp://KN6PLV-hap:8080/meshchat|tcp|MeshChat [chat]\n\
http://KN6PLV-hap:80/a/redirect?x|tcp|Bookmark [link]\n##10.86.1.7##\n\
http://K7FPV-rpi:80/meshchat|tcp|MeshChat\nhttp://X:8080/meshchat|tcp|Other zone [chat]\n",
        );
        assert_eq!(p.rejected, 0);
        let v: Vec<_> = p
            .services
            .iter()
            .map(|s| (s.host.as_str(), s.port, s.zone.as_str()))
            .collect();
        assert_eq!(
            v,
            [
                ("KN6PLV-hap", 8080, "MeshChat"),
                ("K7FPV-rpi", 80, "MeshChat"),
                ("X", 8080, "Other zone")
            ]
        );
    }

    #[test]
    fn olsr_file_and_hostile_hosts() {
        let p = parse(
            "### this file is overwritten regularly by olsrd\n### do not edit\n\n\
http://KN6PLV-hap:8080/meshchat|tcp|MeshChat [chat]\t# my own service\n\
http://K7FPV-node:8080/meshchat|tcp|MeshChat\t#10.12.34.56\n\
http://$(reboot):8080/meshchat|tcp|MeshChat\n\
http://a;b:8080/meshchat|tcp|MeshChat\n\
http://ok:99999/meshchat|tcp|MeshChat\n\
garbage|||\n\u{0}\u{1}binary\n\
### written by olsrd at Tue Mar  4 10:00:00 2025\n",
        );
        assert_eq!(p.services.len(), 2);
        assert_eq!(p.services[1].host.as_str(), "K7FPV-node");
        assert_eq!(p.rejected, 3);
    }

    #[test]
    fn zone_suffix() {
        assert_eq!(zone_of("MeshChat [chat]"), "MeshChat");
        assert_eq!(zone_of("MeshChat"), "MeshChat");
        assert_eq!(zone_of("Ops Chat [chat]"), "Ops Chat");
        assert_eq!(zone_of("[chat]"), "[chat]");
    }
}
