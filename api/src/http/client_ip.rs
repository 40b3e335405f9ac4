//! The client's IP address: the socket peer, or, only when that peer is a trusted proxy, the
//! first untrusted hop of `X-Forwarded-For` read right to left. A client can therefore never
//! choose its own address (rate limits and session records depend on it).
//!
//! Addresses are normalised as Better Auth stores them (`docs/better-auth-wire.md` §5.5): IPv4 as
//! is, IPv4-mapped IPv6 as IPv4, other IPv6 expanded and masked to its /64.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use poem::Request;

/// Resolves the client address of a request.
pub(crate) fn client_ip(req: &Request, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|addr| canonical(addr.ip()))?;
    let forwarded = req.headers().get_all("x-forwarded-for");
    resolve(peer, forwarded.iter().filter_map(|v| v.to_str().ok()), trusted_proxies)
}

fn resolve<'a>(peer: IpAddr, forwarded: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(canonical) else {
            // An unparsable hop ends the trusted chain: use the last good address.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The address as stored in `session.ipAddress` and used as a rate-limit key.
pub(crate) fn normalised(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let masked = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            masked.segments().iter().map(|s| format!("{s:04x}")).collect::<Vec<_>>().join(":")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("cidr")).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let got = resolve(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &nets(&["127.0.0.0/8"]));
        assert_eq!(got, Some(ip("203.0.113.9")));
    }

    #[test]
    fn a_trusted_proxy_chain_is_walked_right_to_left() {
        let trusted = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        let got = resolve(ip("127.0.0.1"), ["6.6.6.6, 198.51.100.7, 10.1.1.1"].into_iter(), &trusted);
        assert_eq!(got, Some(ip("198.51.100.7")), "the left-most hop is client-controlled");
        let none = resolve(ip("127.0.0.1"), std::iter::empty(), &trusted);
        assert_eq!(none, Some(ip("127.0.0.1")));
        let garbage = resolve(ip("127.0.0.1"), ["not-an-ip"].into_iter(), &trusted);
        assert_eq!(garbage, Some(ip("127.0.0.1")));
    }

    #[test]
    fn addresses_are_normalised_like_better_auth() {
        assert_eq!(normalised(ip("10.0.0.1")), "10.0.0.1");
        assert_eq!(normalised(ip("::ffff:10.0.0.1")), "10.0.0.1");
        assert_eq!(normalised(ip("2001:db8:abcd:12:1:2:3:4")), "2001:0db8:abcd:0012:0000:0000:0000:0000");
    }
}
