//! Which IP addresses a plugin's outbound request may connect to.
//!
//! This is a pure function over one address: no DNS, no sockets. The sender resolves a name
//! itself, asks [`prohibited`] about every address it got, and connects only to the ones
//! that passed, by address, so what was checked is what is reached (no second lookup that a
//! rebinding DNS server could answer differently).
//!
//! The decision a reader may question: IPv6 addresses that carry an IPv4 address (mapped
//! `::ffff:a.b.c.d`, the deprecated compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4
//! `2002:aabb:ccdd::`) are judged by the IPv4 address inside. A kernel or a NAT64 gateway
//! turns them into that IPv4 address, so `::ffff:127.0.0.1` is loopback, whatever its first
//! bits say.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is off limits unless the plugin has `grants.allow_private`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prohibited {
    /// `0.0.0.0/8`, `::`: "this host", which the kernel routes to itself.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16` (RFC 1918) and IPv6 unique-local `fc00::/7`.
    Private,
    /// `100.64.0.0/10`: carrier-grade NAT, also where some clouds put their metadata service.
    SharedAddressSpace,
    /// `169.254.0.0/16` (with the cloud metadata address `169.254.169.254`), `fe80::/10`.
    LinkLocal,
    /// `169.254.169.254`, singled out in logs because it is the usual SSRF target.
    Metadata,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240.0.0.0/4` (reserved), `192.0.0.0/24` (IETF protocol assignments), `198.18.0.0/15`
    /// (benchmarking), IPv6 site-local `fec0::/10`: nothing a plugin has any business with.
    Reserved,
}

impl fmt::Display for Prohibited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Prohibited::Unspecified => "unspecified address",
            Prohibited::Loopback => "loopback address",
            Prohibited::Private => "private address",
            Prohibited::SharedAddressSpace => "shared (CGNAT) address",
            Prohibited::LinkLocal => "link-local address",
            Prohibited::Metadata => "cloud metadata address",
            Prohibited::Multicast => "multicast address",
            Prohibited::Broadcast => "broadcast address",
            Prohibited::Reserved => "reserved address",
        })
    }
}

/// Why `ip` may not be connected to without `grants.allow_private`; `None` for an address
/// on the public internet.
pub(crate) fn prohibited(ip: IpAddr) -> Option<Prohibited> {
    match ip {
        IpAddr::V4(v4) => prohibited_v4(v4),
        IpAddr::V6(v6) => prohibited_v6(v6),
    }
}

fn prohibited_v4(ip: Ipv4Addr) -> Option<Prohibited> {
    let [a, b, c, d] = ip.octets();
    Some(match (a, b) {
        (0, _) => Prohibited::Unspecified,
        (127, _) => Prohibited::Loopback,
        (10, _) | (192, 168) => Prohibited::Private,
        (172, 16..=31) => Prohibited::Private,
        (100, 64..=127) => Prohibited::SharedAddressSpace,
        (169, 254) if (c, d) == (169, 254) => Prohibited::Metadata,
        (169, 254) => Prohibited::LinkLocal,
        (224..=239, _) => Prohibited::Multicast,
        (255, 255) if (c, d) == (255, 255) => Prohibited::Broadcast,
        (240..=255, _) => Prohibited::Reserved,
        (192, 0) if c == 0 => Prohibited::Reserved,
        (198, 18..=19) => Prohibited::Reserved,
        _ => return None,
    })
}

fn prohibited_v6(ip: Ipv6Addr) -> Option<Prohibited> {
    if ip.is_unspecified() {
        return Some(Prohibited::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Prohibited::Loopback);
    }
    if let Some(v4) = embedded_v4(ip) {
        return prohibited_v4(v4);
    }
    let first = ip.segments()[0];
    match first {
        _ if first & 0xfe00 == 0xfc00 => Some(Prohibited::Private),
        _ if first & 0xffc0 == 0xfe80 => Some(Prohibited::LinkLocal),
        _ if first & 0xffc0 == 0xfec0 => Some(Prohibited::Reserved),
        _ if first & 0xff00 == 0xff00 => Some(Prohibited::Multicast),
        _ => None,
    }
}

/// The IPv4 address an IPv6 address stands for, in the forms a host or gateway translates.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match ip.segments() {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible; :: and ::1 were handled before).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        // 64:ff9b::a.b.c.d, the NAT64 well-known prefix (RFC 6052).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 2002:aabb:ccdd::/48, 6to4 (RFC 3056): the relay forwards to aa.bb.cc.dd.
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ip: &str) -> Option<Prohibited> {
        prohibited(ip.parse().unwrap())
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "fbff:ffff::1",
            "fe00::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert_eq!(check(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv4_ranges_are_refused_with_their_reason() {
        use Prohibited::*;
        for (ip, why) in [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.0.1", Private),
            ("192.168.255.255", Private),
            ("100.64.0.1", SharedAddressSpace),
            ("100.100.100.200", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("169.254.0.1", LinkLocal),
            ("169.254.169.254", Metadata),
            ("169.254.255.255", LinkLocal),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("255.255.255.255", Broadcast),
            ("240.0.0.1", Reserved),
            ("255.255.255.254", Reserved),
            ("192.0.0.192", Reserved),
            ("198.18.0.1", Reserved),
            ("198.19.255.255", Reserved),
        ] {
            assert_eq!(check(ip), Some(why), "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_are_refused_with_their_reason() {
        use Prohibited::*;
        for (ip, why) in [
            ("::", Unspecified),
            ("::1", Loopback),
            ("fc00::1", Private),
            ("fd00:ec2::254", Private),
            ("fdff:ffff::1", Private),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", Reserved),
            ("ff02::1", Multicast),
            ("ff05::2", Multicast),
        ] {
            assert_eq!(check(ip), Some(why), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_inside() {
        use Prohibited::*;
        for (ip, why) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:172.16.0.1", Private),
            ("::ffff:192.168.1.1", Private),
            ("::ffff:169.254.169.254", Metadata),
            ("::ffff:100.64.0.1", SharedAddressSpace),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:255.255.255.255", Broadcast),
            ("::127.0.0.1", Loopback),
            ("::10.0.0.1", Private),
            ("::169.254.169.254", Metadata),
            ("64:ff9b::7f00:1", Loopback),
            ("64:ff9b::a9fe:a9fe", Metadata),
            ("64:ff9b::c0a8:101", Private),
            ("2002:7f00:1::", Loopback),
            ("2002:a9fe:a9fe::1", Metadata),
            ("2002:0a00:0001::", Private),
        ] {
            assert_eq!(check(ip), Some(why), "{ip}");
        }
    }
}
