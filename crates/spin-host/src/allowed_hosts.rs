//! Spin's `allowed_outbound_hosts` syntax and matching.
//!
//! An entry is `scheme://host[:port]` where
//! - `scheme` is a scheme name or `*`;
//! - `host` is an exact host name or IP literal, `*` (any host), `*.example.com` (any subdomain,
//!   not `example.com` itself), an IP network in CIDR notation (`10.0.0.0/8`), or `self` (relative
//!   requests to the app itself, which this host does not route: it never matches an absolute URL);
//! - `port` is a number, a range `start..end` (end exclusive), `*`, or omitted, meaning the
//!   scheme's well-known port (80 for http, 443 for https; other schemes must name a port).
//!
//! `insecure:allow-all` is rejected like Spin does (use `*://*:*`). Variable templates
//! (`{{ dapr_host }}`) must be resolved by the caller before parsing.

use anyhow::{Context, bail, ensure};
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

/// A parsed list of allowed outbound destinations for one component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

impl AllowedHosts {
    /// Parse a component's `allowed_outbound_hosts` list.
    pub fn parse<S: AsRef<str>>(hosts: &[S]) -> anyhow::Result<Self> {
        if hosts.len() == 1 && hosts[0].as_ref().trim() == "insecure:allow-all" {
            bail!(
                "'insecure:allow-all' is not allowed - use '*://*:*' to allow all outbound traffic"
            );
        }
        let entries = hosts
            .iter()
            .map(|h| AllowedHost::parse(h.as_ref()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { entries })
    }

    /// Whether a request to `scheme://host[:port]` is allowed. `port` None = the scheme's default.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        self.entries.iter().any(|e| e.allows(&scheme, &host, port))
    }

    /// Whether the absolute `uri` is allowed. URIs without scheme or host are never allowed.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allows(scheme, host, uri.port_u16()),
            _ => false,
        }
    }

    /// True if nothing at all is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    original: String,
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemePattern {
    Any,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// Stored with its leading dot: `.example.com`.
    AnySubdomain(String),
    ToSelf,
    Exact(String),
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Port(u16),
    Range(Range<u16>),
}

impl AllowedHost {
    /// Parse one entry, e.g. `http://127.0.0.1:3500`, `https://*.example.com`, `*://*:*`.
    pub fn parse(entry: &str) -> anyhow::Result<Self> {
        let original = entry.to_string();
        let entry = entry.trim();
        ensure!(
            !entry.contains("{{"),
            "allowed outbound host {entry:?} contains an unresolved variable template"
        );
        let (scheme, rest) = entry.split_once("://").with_context(|| {
            format!("allowed outbound host {entry:?} has no scheme (e.g. 'http://' or '*://')")
        })?;
        let rest = match rest.split_once('/') {
            Some((authority, path)) => {
                ensure!(
                    path.is_empty() || is_cidr_suffix(authority, path),
                    "allowed outbound host {entry:?} has a path but is not allowed to"
                );
                if path.is_empty() { authority } else { rest }
            }
            None => rest,
        };
        let (host, port) = split_host_port(rest);

        let scheme_pattern = if scheme == "*" {
            SchemePattern::Any
        } else {
            ensure!(
                !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphabetic()),
                "allowed outbound host {entry:?}: scheme {scheme:?} must be alphabetic or '*'"
            );
            SchemePattern::Exact(scheme.to_ascii_lowercase())
        };
        let host_pattern = HostPattern::parse(host)
            .with_context(|| format!("invalid allowed outbound host {entry:?}"))?;
        let port_pattern = PortPattern::parse(port, scheme)
            .with_context(|| format!("invalid allowed outbound host {entry:?}"))?;
        Ok(Self {
            original,
            scheme: scheme_pattern,
            host: host_pattern,
            port: port_pattern,
        })
    }

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme_ok = match &self.scheme {
            SchemePattern::Any => true,
            SchemePattern::Exact(s) => s == scheme,
        };
        scheme_ok && self.host.allows(host) && self.port.allows(port, scheme)
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

/// `10.0.0.0/8`: the "path" is really a prefix length, possibly followed by `:port`.
fn is_cidr_suffix(authority: &str, path: &str) -> bool {
    authority.parse::<IpAddr>().is_ok()
        && path
            .split(':')
            .next()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Split `host[:port]`, keeping IPv6 literals (`[::1]:80`) and bare `::1`-style CIDRs intact.
fn split_host_port(rest: &str) -> (&str, &str) {
    if rest.starts_with('[') {
        if let Some(end) = rest.find(']') {
            let host = &rest[..=end];
            let port = rest[end + 1..].strip_prefix(':').unwrap_or("");
            return (host, port);
        }
        return (rest, "");
    }
    match rest.rsplit_once(':') {
        // More than one colon and no brackets: an unbracketed IPv6 literal/CIDR without a port.
        Some((host, _)) if host.contains(':') => (rest, ""),
        Some((host, port)) => (host, port),
        None => (rest, ""),
    }
}

impl HostPattern {
    fn parse(host: &str) -> anyhow::Result<Self> {
        let host = host.trim().trim_end_matches('/');
        ensure!(!host.is_empty(), "host must not be empty");
        if host == "*" {
            return Ok(Self::Any);
        }
        if host == "self" || host == "self.alt" {
            return Ok(Self::ToSelf);
        }
        ensure!(
            !host.starts_with('{'),
            "host lists are not supported (Spin does not support them yet)"
        );
        if let Some((addr, bits)) = host.split_once('/') {
            let addr: IpAddr = addr
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .with_context(|| format!("{host:?} is not a valid CIDR network"))?;
            let bits: u8 = bits
                .parse()
                .with_context(|| format!("{host:?} has an invalid prefix length"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            ensure!(bits <= max, "{host:?} has a prefix length above {max}");
            return Ok(Self::Cidr(addr, bits));
        }
        if let Some(domain) = host.strip_prefix("*.") {
            ensure!(
                !domain.contains('*') && !domain.is_empty(),
                "wildcards are allowed only as a whole leading label ('*.example.com')"
            );
            return Ok(Self::AnySubdomain(format!(
                ".{}",
                domain.to_ascii_lowercase()
            )));
        }
        ensure!(
            !host.contains('*'),
            "wildcards are allowed only as a whole leading label ('*.example.com') or as '*'"
        );
        Ok(Self::Exact(host.to_ascii_lowercase()))
    }

    fn allows(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::AnySubdomain(suffix) => host.ends_with(suffix.as_str()),
            Self::ToSelf => false,
            Self::Exact(h) => h == host,
            Self::Cidr(net, bits) => host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| cidr_contains(*net, *bits, ip)),
        }
    }
}

fn cidr_contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
        let full = usize::from(bits / 8);
        let rest = bits % 8;
        if a[..full] != b[..full] {
            return false;
        }
        if rest == 0 {
            return true;
        }
        let mask = 0xffu8 << (8 - rest);
        (a[full] & mask) == (b[full] & mask)
    }
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => prefix_eq(&n.octets(), &i.octets(), bits),
        (IpAddr::V6(n), IpAddr::V6(i)) => prefix_eq(&n.octets(), &i.octets(), bits),
        _ => false,
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

impl PortPattern {
    fn parse(port: &str, scheme: &str) -> anyhow::Result<Self> {
        let port = port.trim();
        if port.is_empty() {
            return well_known_port(scheme).map(Self::Port).with_context(|| {
                format!("no port given and scheme {scheme:?} has no default port")
            });
        }
        if port == "*" {
            return Ok(Self::Any);
        }
        ensure!(!port.starts_with('{'), "port lists are not supported");
        if let Some((start, end)) = port.split_once("..") {
            let start: u16 = start
                .parse()
                .with_context(|| format!("port range {port:?} contains a non-number"))?;
            let end: u16 = end
                .parse()
                .with_context(|| format!("port range {port:?} contains a non-number"))?;
            return Ok(Self::Range(start..end));
        }
        Ok(Self::Port(port.parse().with_context(|| {
            format!("port {port:?} is not a number")
        })?))
    }

    fn allows(&self, port: Option<u16>, scheme: &str) -> bool {
        let Some(port) = port.or_else(|| well_known_port(scheme)) else {
            return matches!(self, Self::Any);
        };
        match self {
            Self::Any => true,
            Self::Port(p) => *p == port,
            Self::Range(r) => r.contains(&port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(list: &[&str], url: &str) -> bool {
        let hosts = AllowedHosts::parse(list).unwrap();
        hosts.allows_uri(&url.parse().unwrap())
    }

    #[test]
    fn exact_host_and_port() {
        let list = ["http://127.0.0.1:3500", "http://localhost:3500"];
        assert!(allowed(&list, "http://127.0.0.1:3500/v1.0/state/x"));
        assert!(allowed(&list, "http://localhost:3500/"));
        assert!(allowed(&list, "http://LOCALHOST:3500/"));
        assert!(!allowed(&list, "http://127.0.0.1:3501/"));
        assert!(!allowed(&list, "http://127.0.0.1/"));
        assert!(!allowed(&list, "https://127.0.0.1:3500/"));
        assert!(!allowed(&list, "http://127.0.0.2:3500/"));
        assert!(!allowed(&list, "http://evil.localhost:3500/"));
    }

    #[test]
    fn default_ports_by_scheme() {
        assert!(allowed(
            &["https://api.example.com"],
            "https://api.example.com/x"
        ));
        assert!(allowed(
            &["https://api.example.com"],
            "https://api.example.com:443/x"
        ));
        assert!(!allowed(
            &["https://api.example.com"],
            "https://api.example.com:8443/"
        ));
        assert!(!allowed(
            &["https://api.example.com"],
            "http://api.example.com/"
        ));
        assert!(allowed(&["http://example.com"], "http://example.com:80/"));
        assert!(!allowed(
            &["http://example.com"],
            "http://example.com:8080/"
        ));
    }

    #[test]
    fn wildcards() {
        let sub = ["https://*.example.com"];
        assert!(allowed(&sub, "https://a.example.com/"));
        assert!(allowed(&sub, "https://a.b.example.com/"));
        assert!(!allowed(&sub, "https://example.com/"));
        assert!(!allowed(&sub, "https://badexample.com/"));
        assert!(!allowed(&sub, "http://a.example.com/"));

        assert!(allowed(&["*://*:*"], "http://anything:1234/"));
        assert!(allowed(&["*://*:*"], "https://x.y/"));
        assert!(allowed(&["http://*:*"], "http://x:9/"));
        assert!(!allowed(&["http://*:*"], "https://x:9/"));
        assert!(allowed(&["http://localhost:*"], "http://localhost:9999/"));
        assert!(allowed(&["http://localhost:*"], "http://localhost/"));
        assert!(allowed(&["*://localhost:3500"], "https://localhost:3500/"));
        assert!(allowed(&["http://*"], "http://foo/"));
        assert!(!allowed(&["http://*"], "http://foo:81/"));
    }

    #[test]
    fn ranges_and_cidr() {
        assert!(allowed(
            &["http://localhost:3000..3010"],
            "http://localhost:3005/"
        ));
        assert!(!allowed(
            &["http://localhost:3000..3010"],
            "http://localhost:3010/"
        ));
        assert!(allowed(&["http://10.0.0.0/8:*"], "http://10.1.2.3:80/"));
        assert!(allowed(&["http://10.0.0.0/8"], "http://10.1.2.3/"));
        assert!(!allowed(&["http://10.0.0.0/8:*"], "http://11.1.2.3/"));
        assert!(allowed(&["http://[::1]:3500"], "http://[::1]:3500/"));
    }

    #[test]
    fn nothing_allowed_by_default() {
        assert!(!allowed(&[], "http://127.0.0.1:3500/"));
        // `self` only covers relative requests, which never reach the matcher as absolute URLs.
        assert!(!allowed(&["http://self"], "http://self/"));
        assert!(!allowed(&["*://*:*"], "/relative"));
    }

    #[test]
    fn rejects_bad_entries() {
        for bad in [
            "127.0.0.1:3500",
            "http://example.com/path",
            "ftp://example.com",
            "*://example.com",
            "http://ex*mple.com",
            "http://*.ex*.com",
            "http://example.com:port",
            "http://{{ dapr_host }}",
            "h1tp://example.com",
            "http://",
        ] {
            assert!(
                AllowedHosts::parse(&[bad]).is_err(),
                "{bad} should be rejected"
            );
        }
        assert!(AllowedHosts::parse(&["insecure:allow-all"]).is_err());
    }
}
