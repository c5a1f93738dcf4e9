//! `AddressRanges`: a list of IP ranges given on the command line. As `TrustedProxies` they are
//! the proxies whose `X-Forwarded-For` is believed (and how the client address is read from that
//! header); as the `/metrics` allow-list, the clients that may scrape.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};

/// Address ranges (CIDR) and single addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressRanges(Vec<IpNet>);

/// The ranges of the proxies in front of this server. Empty: nobody is trusted and the client
/// is always the TCP peer.
pub type TrustedProxies = AddressRanges;

/// Why a list of ranges did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an IP address or CIDR range (expected e.g. 10.0.0.0/8, 192.168.1.5, fd00::/8)"
)]
pub struct AddressRangesError(String);

impl AddressRanges {
    /// Parses a comma-separated list of ranges (`10.0.0.0/8`, `fd00::/8`) and single addresses
    /// (`192.168.1.5`, `::1`); blank entries are ignored, so `""` trusts nobody. Host bits of a
    /// range are cleared (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn parse(list: &str) -> Result<Self, AddressRangesError> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let net = match entry.parse::<IpAddr>() {
                    Ok(addr) => Some(IpNet::from(addr)),
                    Err(_) => entry.parse::<IpNet>().ok(),
                };
                net.map(|net| canonical_net(net.trunc()))
                    .ok_or_else(|| AddressRangesError(entry.chars().take(60).collect()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether the list is empty (as proxies: nobody is trusted).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `addr` is in one of the ranges (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client of a request from `peer` whose `X-Forwarded-For` holds `forwarded`, the
    /// entries nearest first (right to left). From an untrusted peer the header is ignored.
    /// Otherwise each entry was appended by the trusted hop after it: the client is the first
    /// entry, walking from the right, that is not itself trusted. An entry that is not an
    /// address ends the walk at the last trusted hop, as does running out of entries.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        for entry in forwarded {
            let Ok(addr) = entry.trim().parse::<IpAddr>() else {
                break;
            };
            client = canonical(addr);
            if !self.contains(client) {
                break;
            }
        }
        client
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as a dual-stack socket reports IPv4 peers)
/// as the IPv4 address it is.
fn canonical(addr: IpAddr) -> IpAddr {
    addr.to_canonical()
}

/// A range of IPv4-mapped IPv6 addresses (`::ffff:10.0.0.0/104`) as the IPv4 range it is.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

impl FromStr for AddressRanges {
    type Err = AddressRangesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for AddressRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_ipv4_and_ipv6_ranges_and_single_addresses() {
        let proxies =
            TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.5 ,fd00::/8,::1,, 172.16.9.9/12")
                .unwrap();
        assert_eq!(
            proxies.to_string(),
            "10.0.0.0/8,192.168.1.5/32,fd00::/8,::1/128,172.16.0.0/12"
        );
        for inside in ["10.255.0.1", "192.168.1.5", "fd12::1", "::1", "172.31.0.1"] {
            assert!(proxies.contains(ip(inside)), "{inside}");
        }
        for outside in ["11.0.0.1", "192.168.1.6", "fe80::1", "::2", "172.32.0.1"] {
            assert!(!proxies.contains(ip(outside)), "{outside}");
        }
        // IPv4 peers of a dual-stack socket.
        assert!(proxies.contains(ip("::ffff:10.1.2.3")));
        let mapped = TrustedProxies::parse("::ffff:127.0.0.1,::ffff:10.0.0.0/104").unwrap();
        assert_eq!(mapped.to_string(), "127.0.0.1/32,10.0.0.0/8");
        assert!(mapped.contains(ip("127.0.0.1")) && mapped.contains(ip("10.1.1.1")));
    }

    #[test]
    fn an_empty_list_trusts_nobody() {
        for empty in ["", " ", ","] {
            let proxies = TrustedProxies::parse(empty).unwrap();
            assert!(proxies.is_empty());
            assert!(!proxies.contains(ip("127.0.0.1")));
        }
    }

    #[test]
    fn rejects_what_is_not_an_address_or_range() {
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "/8",
            "proxy.internal",
            "10.0.0.1:80",
            "10.0.0.0/8/8",
            "*",
        ] {
            let err = TrustedProxies::parse(&format!("127.0.0.1,{bad}")).unwrap_err();
            assert!(
                err.to_string().contains(&format!("{bad:?}")),
                "{bad}: {err}"
            );
        }
    }

    /// `forwarded` as the header reads (left to right); the walk gets it nearest first.
    fn check(trusted: &str, peer: &str, forwarded: &str, client: &str) {
        let proxies = TrustedProxies::parse(trusted).unwrap();
        let entries: Vec<&str> = forwarded.split(',').rev().collect();
        assert_eq!(
            proxies.client(ip(peer), entries),
            ip(client),
            "trusted {trusted:?}, peer {peer}, X-Forwarded-For {forwarded:?}"
        );
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_address_from_a_trusted_peer() {
        // Nobody trusted, or an untrusted peer: the header is ignored.
        check("", "203.0.113.7", "1.2.3.4", "203.0.113.7");
        check("10.0.0.0/8", "203.0.113.7", "1.2.3.4", "203.0.113.7");
        // One proxy: what it appended, not what the client wrote before it.
        check(
            "10.0.0.1",
            "10.0.0.1",
            "1.2.3.4, 203.0.113.7",
            "203.0.113.7",
        );
        check("10.0.0.1", "10.0.0.1", "203.0.113.7", "203.0.113.7");
        // Two hops of trusted proxies.
        check(
            "10.0.0.0/8",
            "10.0.0.1",
            "6.6.6.6, 203.0.113.7, 10.9.9.9",
            "203.0.113.7",
        );
        // IPv6.
        check(
            "fd00::/8",
            "fd00::1",
            "2001:db8::1, 2001:db8::2, fd00::5",
            "2001:db8::2",
        );
        check(
            "fd00::/8",
            "::ffff:203.0.113.7",
            "2001:db8::1",
            "203.0.113.7",
        );
        // No header, or only trusted entries: the last trusted hop.
        check("10.0.0.0/8", "10.0.0.1", "", "10.0.0.1");
        check("10.0.0.0/8", "10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3");
        // Garbage ends the walk at the hop that passed it on.
        check(
            "10.0.0.0/8",
            "10.0.0.1",
            "1.2.3.4, junk, 10.0.0.2",
            "10.0.0.2",
        );
        check("10.0.0.0/8", "10.0.0.1", "1.2.3.4, 10.0.0.2:80", "10.0.0.1");
    }
}
