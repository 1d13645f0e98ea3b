//! Where the service may send Web Push: only to public addresses (unless configured), so a
//! subscription cannot make the service connect to its own loopback, the local network or a
//! cloud metadata address (blind request forgery). Names are checked where it matters — the
//! addresses the HTTP client will connect to come from [`PushResolver`], which drops every
//! address that is not allowed — and IP literals, which no resolver sees, are checked as well.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use twofold_core::config::{authority_host, parse_network};

/// The addresses Web Push may go to.
#[derive(Debug, Clone, Default)]
pub struct PushTargets {
    /// Loopback too (tests: `allow_loopback_push`).
    pub allow_loopback: bool,
    /// Extra networks (`push_allowed_networks`).
    pub networks: Vec<(IpAddr, u8)>,
}

impl PushTargets {
    pub fn new(allow_loopback: bool, networks: &[String]) -> PushTargets {
        PushTargets {
            allow_loopback,
            networks: networks.iter().filter_map(|n| parse_network(n)).collect(),
        }
    }

    /// Whether the service may connect to `ip` for Web Push.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        is_public(ip)
            || (self.allow_loopback && ip.is_loopback())
            || self
                .networks
                .iter()
                .any(|(net, len)| in_network(ip, *net, *len))
    }

    /// An endpoint whose host is an IP literal must be an allowed address (names are checked
    /// when they are resolved). `Err` says why, for a 400 or the log.
    pub fn check_endpoint(&self, endpoint: &str) -> Result<(), String> {
        let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
        let host = authority_host(rest.split('/').next().unwrap_or(""));
        match host.parse::<IpAddr>() {
            Ok(ip) if !self.allows(ip) => Err(format!("{ip} is not a public address")),
            _ => Ok(()),
        }
    }
}

/// A DNS resolver for the Web Push client that returns only allowed addresses.
pub struct PushResolver(pub Arc<PushTargets>);

impl reqwest::dns::Resolve for PushResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let targets = Arc::clone(&self.0);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| targets.allows(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A globally routable unicast address: not loopback, private, link-local, shared (CGNAT),
/// documentation, benchmarking, reserved, multicast or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // NAT64 and 6to4 carry an IPv4 address: judge that one.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // discard-only
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.2",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::2",
            "fe80::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "224.0.0.1",
        ] {
            assert!(!is_public(ip(a)), "{a}");
        }
        for a in [
            "8.8.8.8",
            "142.250.74.10",
            "2a00:1450:4001:82a::200a",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn configured_networks_and_loopback_are_allowed_when_asked() {
        let t = PushTargets::new(false, &["10.0.0.0/8".into(), "fd00::/8".into()]);
        assert!(t.allows(ip("10.9.9.9")));
        assert!(t.allows(ip("fd12::1")));
        assert!(!t.allows(ip("192.168.0.1")));
        assert!(!t.allows(ip("127.0.0.1")));
        assert!(PushTargets::new(true, &[]).allows(ip("127.0.0.1")));
        assert!(t.check_endpoint("https://[::1]:443/x").is_err());
        assert!(t.check_endpoint("https://169.254.169.254/latest").is_err());
        assert!(t.check_endpoint("https://push.example.net/x").is_ok());
        assert!(t.check_endpoint("https://10.1.1.1/x").is_ok());
    }
}
