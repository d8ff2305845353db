//! `server.allow_sources`: the networks whose webhook requests hookbox answers.
//!
//! OpenIM signs nothing, so where its callbacks arrive on a shared network the peer address
//! is the only thing that tells the IM server from anyone else. An entry is one address
//! (`10.0.0.7`, `fd00::7`) or a network in CIDR form (`10.0.0.0/8`); an empty list, the
//! default, allows every source.
//!
//! What it is not: a firewall. The connection is accepted and the request head read before
//! the source is refused with 403, because a refusal an operator can see in the log and in
//! `/metrics` beats a silently closed connection when a list is wrong. Dropping scans at the
//! packet level is the host firewall's job.
//!
//! The decision a reader may question: **entries with host bits set (`10.0.0.7/8`) and
//! IPv4-mapped IPv6 entries (`::ffff:10.0.0.7`) are refused** rather than normalised. The
//! first is more often a typo for a single address than a wish for the whole /8, and the
//! second would never match: peers are compared in canonical form, a mapped peer as IPv4.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One entry of `server.allow_sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceNetwork(IpNet);

impl SourceNetwork {
    /// Whether `peer`, in canonical form (IPv4-mapped IPv6 folded to IPv4), is inside.
    pub fn contains(&self, peer: IpAddr) -> bool {
        self.0.contains(&peer)
    }
}

impl FromStr for SourceNetwork {
    type Err = String;

    fn from_str(entry: &str) -> Result<Self, String> {
        let net = match entry.parse::<IpAddr>() {
            Ok(address) => IpNet::from(address),
            Err(_) => entry.parse::<IpNet>().map_err(|_| {
                format!("{entry:?} is neither an IP address nor a network like 10.0.0.0/8")
            })?,
        };
        if let IpNet::V6(v6) = net
            && let Some(v4) = v6.addr().to_ipv4_mapped()
        {
            return Err(format!(
                "{entry:?} is an IPv4-mapped address: write it as IPv4 ({v4}), which is how such peers are compared"
            ));
        }
        if net.addr() != net.network() {
            return Err(format!(
                "{entry:?} has bits set past its prefix: write the network ({}) or the single address ({})",
                net.trunc(),
                net.addr()
            ));
        }
        Ok(SourceNetwork(net))
    }
}

impl TryFrom<String> for SourceNetwork {
    type Error = String;

    fn try_from(entry: String) -> Result<Self, String> {
        entry.parse()
    }
}

impl From<SourceNetwork> for String {
    fn from(network: SourceNetwork) -> String {
        network.to_string()
    }
}

impl fmt::Display for SourceNetwork {
    /// A single address prints without its prefix, as it was most likely written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

/// Whether `peer` may send webhook requests under `allowed`: an empty list allows all.
pub(crate) fn source_allowed(allowed: &[SourceNetwork], peer: IpAddr) -> bool {
    allowed.is_empty() || allowed.iter().any(|network| network.contains(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(entry: &str) -> SourceNetwork {
        entry.parse().unwrap_or_else(|e| panic!("{entry}: {e}"))
    }

    fn ip(address: &str) -> IpAddr {
        address.parse().unwrap()
    }

    #[test]
    fn an_address_or_a_network_matches_what_it_covers() {
        let allowed = [net("10.1.0.0/16"), net("192.0.2.7"), net("fd00::/8")];
        for inside in ["10.1.0.1", "10.1.255.255", "192.0.2.7", "fd12::1"] {
            assert!(source_allowed(&allowed, ip(inside)), "{inside}");
        }
        for outside in ["10.2.0.1", "192.0.2.8", "127.0.0.1", "fe80::1", "::1"] {
            assert!(!source_allowed(&allowed, ip(outside)), "{outside}");
        }
    }

    #[test]
    fn an_empty_list_allows_everyone() {
        assert!(source_allowed(&[], ip("203.0.113.9")));
        assert!(source_allowed(&[], ip("2001:db8::1")));
    }

    #[test]
    fn entries_print_as_written() {
        for entry in ["10.0.0.0/8", "192.0.2.7", "fd00::/8", "::1", "0.0.0.0/0"] {
            assert_eq!(net(entry).to_string(), entry);
        }
    }

    #[test]
    fn bad_entries_say_what_to_write_instead() {
        let cases = [
            (
                "10.0.0.7/8",
                "write the network (10.0.0.0/8) or the single address (10.0.0.7)",
            ),
            ("::ffff:10.0.0.7", "write it as IPv4 (10.0.0.7)"),
            ("10.0.0.0/33", "neither an IP address nor a network"),
            ("localhost", "neither an IP address nor a network"),
            ("", "neither an IP address nor a network"),
        ];
        for (entry, expected) in cases {
            let error = entry.parse::<SourceNetwork>().unwrap_err();
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }
}
