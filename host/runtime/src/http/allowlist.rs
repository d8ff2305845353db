//! `grants.outbound_hosts`: the scheme, host and port a plugin's outbound request may name.
//!
//! A pattern is `[scheme://]host[:port]`:
//!
//! | pattern | allows |
//! | --- | --- |
//! | `api.example.com` | `https://api.example.com:443` |
//! | `https://api.example.com:8443` | that port only |
//! | `http://archive.internal` | plain HTTP on port 80 |
//! | `*.example.com` | `https` on 443 to any name *under* `example.com`, not `example.com` itself |
//! | `http://10.0.0.5:8080`, `[2001:db8::1]` | an IP literal, matched exactly |
//!
//! Names compare case-insensitively and without a trailing dot. This module only matches
//! names; whether the *address* a name resolves to may be reached is `address`'s question,
//! asked after resolving.
//!
//! The decision a reader may question: a bare host means HTTPS only. A plugin's requests carry
//! its secrets (API keys in headers), so cleartext is something an operator spells out
//! (`http://…`), never a default.

use std::fmt;
use std::net::IpAddr;

use http::uri::Scheme;

/// One entry of `grants.outbound_hosts`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    secure: bool,
    host: HostMatch,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    /// This name exactly (lower case, no trailing dot).
    Name(String),
    /// Any name ending in `.{suffix}` (at least one more label).
    Under(String),
    /// This IP address.
    Ip(IpAddr),
}

/// Why an `outbound_hosts` entry is not a pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbound host {pattern:?}: {problem}")]
pub struct PatternError {
    pattern: String,
    problem: &'static str,
}

impl HostPattern {
    /// Parse `[scheme://]host[:port]`; see the module docs for what each form allows.
    pub fn parse(pattern: &str) -> Result<HostPattern, PatternError> {
        let error = |problem| PatternError {
            pattern: pattern.to_owned(),
            problem,
        };
        let (secure, rest) = match pattern.split_once("://") {
            None => (true, pattern),
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "https" => (true, rest),
                "http" => (false, rest),
                _ => return Err(error("the scheme must be http or https")),
            },
        };
        if rest.contains(['/', '?', '#', '@']) {
            return Err(error(
                "give scheme, host and port only: no path, query or user name",
            ));
        }
        let (host, port) = split_port(rest).ok_or_else(|| error("the port is not a number"))?;
        let port = match port {
            Some(0) => return Err(error("port 0 cannot be connected to")),
            Some(port) => port,
            None => default_port(secure),
        };
        let host = if let Some(inner) = host.strip_prefix('[') {
            let ip = inner
                .strip_suffix(']')
                .and_then(|ip| ip.parse().ok())
                .ok_or_else(|| error("an address in brackets must be an IPv6 address"))?;
            HostMatch::Ip(IpAddr::V6(ip))
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            HostMatch::Ip(ip)
        } else if let Some(suffix) = host.strip_prefix("*.") {
            let suffix = normalise_name(suffix).ok_or_else(|| error("not a valid host name"))?;
            if !suffix.contains('.') {
                return Err(error(
                    "a wildcard must name a domain with at least two labels, e.g. *.example.com",
                ));
            }
            HostMatch::Under(suffix)
        } else {
            if host.contains('*') {
                return Err(error(
                    "the only wildcard is a leading `*.` (e.g. *.example.com)",
                ));
            }
            HostMatch::Name(normalise_name(host).ok_or_else(|| error("not a valid host name"))?)
        };
        Ok(HostPattern { secure, host, port })
    }

    /// Whether a request to `scheme://host:port` fits this pattern. `host` is as a URI
    /// carries it (IPv6 in brackets or not).
    pub(crate) fn allows(&self, target: &Target) -> bool {
        if self.secure != target.secure || self.port != target.port {
            return false;
        }
        match (&self.host, &target.host) {
            (HostMatch::Ip(want), TargetHost::Ip(got)) => want == got,
            (HostMatch::Name(want), TargetHost::Name(got)) => want == got,
            (HostMatch::Under(suffix), TargetHost::Name(got)) => got
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            _ => false,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        match &self.host {
            HostMatch::Name(name) => write!(f, "{scheme}://{name}:{}", self.port),
            HostMatch::Under(suffix) => write!(f, "{scheme}://*.{suffix}:{}", self.port),
            HostMatch::Ip(IpAddr::V6(ip)) => write!(f, "{scheme}://[{ip}]:{}", self.port),
            HostMatch::Ip(ip) => write!(f, "{scheme}://{ip}:{}", self.port),
        }
    }
}

/// Where one outbound request goes, taken apart from its URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) secure: bool,
    pub(crate) host: TargetHost,
    pub(crate) port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetHost {
    Name(String),
    Ip(IpAddr),
}

impl Target {
    /// The target of `uri`, or `None` when it has no usable scheme or host, or carries a
    /// user name (which would only confuse what "the host" is).
    pub(crate) fn of(uri: &http::Uri) -> Option<Target> {
        let secure = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return None,
        };
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        let host = authority.host();
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => TargetHost::Ip(IpAddr::V6(v6.parse().ok()?)),
            None => match host.parse::<IpAddr>() {
                Ok(ip) => TargetHost::Ip(ip),
                Err(_) => TargetHost::Name(normalise_name(host)?),
            },
        };
        let port = match authority.port_u16() {
            Some(0) => return None,
            Some(port) => port,
            None => default_port(secure),
        };
        Some(Target { secure, host, port })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "https" } else { "http" };
        match &self.host {
            TargetHost::Name(name) => write!(f, "{scheme}://{name}:{}", self.port),
            TargetHost::Ip(IpAddr::V6(ip)) => write!(f, "{scheme}://[{ip}]:{}", self.port),
            TargetHost::Ip(ip) => write!(f, "{scheme}://{ip}:{}", self.port),
        }
    }
}

/// The plugin's whole allowlist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Allowlist(pub(crate) Vec<HostPattern>);

impl Allowlist {
    pub(crate) fn allows(&self, target: &Target) -> bool {
        self.0.iter().any(|p| p.allows(target))
    }
}

fn default_port(secure: bool) -> u16 {
    if secure { 443 } else { 80 }
}

/// `host` and its port, if any. `None` when a port is there but is not a `u16`.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    // "[v6]:port", "[v6]", "name:port", "name"; a bare IPv6 address without brackets has
    // several colons and no port.
    if authority.starts_with('[') {
        return match authority.rsplit_once("]:") {
            Some((host, port)) => Some((&authority[..host.len() + 1], Some(port.parse().ok()?))),
            None => Some((authority, None)),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, Some(port.parse().ok()?))),
        _ => Some((authority, None)),
    }
}

/// Lower case, no trailing dot, and only what DNS names are made of: labels of letters,
/// digits, `-` and `_`, none empty or longer than 63, 253 in all.
fn normalise_name(name: &str) -> Option<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    (!name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uri: &str) -> Target {
        Target::of(&uri.parse().unwrap()).unwrap_or_else(|| panic!("{uri} has a target"))
    }

    fn allows(pattern: &str, uri: &str) -> bool {
        HostPattern::parse(pattern).unwrap().allows(&target(uri))
    }

    #[test]
    fn a_bare_host_means_https_on_443() {
        assert!(allows("api.example.com", "https://api.example.com/v1"));
        assert!(allows("api.example.com", "https://api.example.com:443/v1"));
        assert!(allows("api.example.com", "https://API.Example.COM./v1"));
        assert!(!allows("api.example.com", "http://api.example.com/v1"));
        assert!(!allows("api.example.com", "https://api.example.com:8443/"));
        assert!(!allows("api.example.com", "https://example.com/"));
        assert!(!allows(
            "api.example.com",
            "https://api.example.com.evil.net/"
        ));
        assert!(!allows("api.example.com", "https://evilapi.example.com/"));
    }

    #[test]
    fn scheme_and_port_are_matched_exactly() {
        assert!(allows(
            "http://archive.internal",
            "http://archive.internal/x"
        ));
        assert!(allows(
            "http://archive.internal",
            "http://archive.internal:80/x"
        ));
        assert!(!allows(
            "http://archive.internal",
            "https://archive.internal/x"
        ));
        assert!(!allows(
            "http://archive.internal",
            "http://archive.internal:8080/x"
        ));
        assert!(allows(
            "HTTPS://api.example.com:8443",
            "https://api.example.com:8443/"
        ));
        assert!(!allows(
            "https://api.example.com:8443",
            "https://api.example.com/"
        ));
        assert!(allows(
            "http://localhost:9000",
            "http://localhost:9000/sink"
        ));
        assert!(!allows(
            "http://localhost:9000",
            "http://localhost:9001/sink"
        ));
    }

    #[test]
    fn a_wildcard_covers_names_under_the_domain_only() {
        let p = "*.example.com";
        assert!(allows(p, "https://a.example.com/"));
        assert!(allows(p, "https://a.b.example.com/"));
        assert!(!allows(p, "https://example.com/"));
        assert!(!allows(p, "https://badexample.com/"));
        assert!(!allows(p, "https://a.example.com.evil.net/"));
        assert!(!allows(p, "http://a.example.com/"));
        assert!(allows(
            "http://*.example.com:8080",
            "http://x.example.com:8080/"
        ));
    }

    #[test]
    fn ip_literals_match_exactly_and_never_as_names() {
        assert!(allows("http://127.0.0.1:8080", "http://127.0.0.1:8080/"));
        assert!(!allows("http://127.0.0.1:8080", "http://127.0.0.2:8080/"));
        assert!(!allows("http://localhost:8080", "http://127.0.0.1:8080/"));
        assert!(allows("[2001:db8::1]", "https://[2001:db8::1]/"));
        assert!(allows(
            "https://[2001:db8::1]:8443",
            "https://[2001:db8:0::1]:8443/"
        ));
        assert!(!allows("[2001:db8::1]", "https://[2001:db8::2]/"));
        // An all-numeric name is an address, so a wildcard never matches it.
        assert!(!allows("*.0.1", "https://10.0.0.1/"));
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (pattern, problem) in [
            ("ftp://example.com", "scheme"),
            ("https://example.com/path", "no path"),
            ("example.com?x=1", "no path"),
            ("user@example.com", "user name"),
            ("example.com:http", "port"),
            ("example.com:70000", "port"),
            ("example.com:0", "port 0"),
            ("*", "leading `*.`"),
            ("*.com", "two labels"),
            ("a.*.example.com", "leading"),
            ("exa mple.com", "not a valid host name"),
            ("", "not a valid host name"),
            ("https://", "not a valid host name"),
            ("[::1", "IPv6"),
            ("[example.com]", "IPv6"),
            ("-bad.example.com", "not a valid host name"),
        ] {
            let err = HostPattern::parse(pattern).unwrap_err().to_string();
            assert!(err.contains(problem), "{pattern}: {err}");
            assert!(err.contains(&format!("{pattern:?}")), "{pattern}: {err}");
        }
    }

    #[test]
    fn patterns_print_in_full() {
        for (pattern, shown) in [
            ("api.example.com", "https://api.example.com:443"),
            ("http://*.Example.com", "http://*.example.com:80"),
            ("[::1]:8080", "https://[::1]:8080"),
            ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
        ] {
            assert_eq!(HostPattern::parse(pattern).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn targets_refuse_what_would_blur_the_host() {
        for uri in [
            "https://user:pw@api.example.com/",
            "ftp://api.example.com/",
            "/relative/only",
            "https://api.example.com:0/",
            "https://exa_mple..com/",
            "https://.example.com/",
        ] {
            let parsed: Result<http::Uri, _> = uri.parse();
            if let Ok(parsed) = parsed {
                assert_eq!(Target::of(&parsed), None, "{uri}");
            }
        }
        assert_eq!(
            target("https://[::ffff:127.0.0.1]:8443/").to_string(),
            "https://[::ffff:127.0.0.1]:8443"
        );
    }
}
