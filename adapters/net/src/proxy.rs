//! Which proxy a client goes through: a proxy URL, the environment's choice with curl's conventions
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`), and the error a failed tunnel reports. The
//! exchange with the proxy is the core's sans-IO [`Tunnel`]; each adapter pumps its bytes.

use rill_ws::handshake::owned::Proxy;
use rill_ws::proxy::{Credentials, Tunnel, TunnelError};
use std::fmt;
use std::io;
use std::net::IpAddr;

/// The protocol a proxy speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP `CONNECT` (`http://`).
    Http,
    /// SOCKS5 (`socks5://` or `socks5h://`: the proxy resolves the target's name either way).
    Socks5,
}

/// A parsed proxy URL: `scheme://[user[:password]@]host[:port]`, userinfo percent-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    kind: ProxyKind,
    host: String,
    port: u16,
    user: Option<(String, String)>,
}

impl ProxyUrl {
    /// Parses a proxy URL. Without a scheme it is `http://` and without a port 1080 (as curl does);
    /// `https://` proxies (TLS to the proxy) and SOCKS4 are refused.
    pub fn parse(url: &str) -> Result<ProxyUrl, &'static str> {
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "http" => ProxyKind::Http,
            "socks5" | "socks5h" => ProxyKind::Socks5,
            _ => return Err("proxy scheme must be http://, socks5:// or socks5h://"),
        };
        let rest = rest
            .split_once('/')
            .map_or(rest, |(authority, _)| authority);
        let (userinfo, authority) = match rest.rsplit_once('@') {
            Some((userinfo, authority)) => (Some(userinfo), authority),
            None => (None, rest),
        };
        let user = match userinfo {
            None => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                Some((percent_decode(user)?, percent_decode(password)?))
            }
        };
        let (host, port) = split_host_port(authority).ok_or("invalid proxy host or port")?;
        Ok(ProxyUrl {
            kind,
            host: host.to_string(),
            port: port.unwrap_or(1080),
            user,
        })
    }

    /// The protocol it speaks.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// `host:port` to open TCP to (an IPv6 literal in brackets).
    pub fn address(&self) -> String {
        match self.host.contains(':') {
            true => format!("[{}]:{}", self.host, self.port),
            false => format!("{}:{}", self.host, self.port),
        }
    }

    /// The exchange that opens a tunnel through it to `host:port`.
    pub fn tunnel<'a>(&'a self, host: &'a str, port: u16) -> Result<Tunnel<'a>, TunnelError> {
        let credentials = self
            .user
            .as_ref()
            .map(|(user, password)| Credentials { user, password });
        match self.kind {
            ProxyKind::Http => Tunnel::http_connect(host, port, credentials),
            ProxyKind::Socks5 => Tunnel::socks5(host, port, credentials),
        }
    }
}

/// Never shows the password.
impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyUrl")
            .field("kind", &self.kind)
            .field("address", &self.address())
            .field("user", &self.user.as_ref().map(|(user, _)| user))
            .finish()
    }
}

/// The proxy to reach `host:port` through, as `choice` says: `None` to go straight there. `secure` is
/// true for `wss://`. The environment is read with [`std::env::var`]; see [`from_env_with`].
pub fn choose(
    choice: &Proxy,
    secure: bool,
    host: &str,
    port: u16,
) -> Result<Option<ProxyUrl>, ProxyError> {
    let url = match choice {
        Proxy::Direct => return Ok(None),
        Proxy::Url(url) => url.clone(),
        Proxy::Environment => {
            match from_env_with(|name| std::env::var(name).ok(), secure, host, port) {
                Some(url) => url,
                None => return Ok(None),
            }
        }
    };
    ProxyUrl::parse(&url)
        .map(Some)
        .map_err(|why| ProxyError::new(String::from("proxy URL"), Failure::Url(why)))
}

/// The proxy URL the environment names for `host:port` (`secure`: `wss://`), read through `var`:
/// `https_proxy` then `HTTPS_PROXY` for `wss://`, `http_proxy` then `HTTP_PROXY` for `ws://`, else
/// `all_proxy` then `ALL_PROXY`; `None` when none is set (empty counts as unset) or when `no_proxy`
/// (else `NO_PROXY`) matches the target (see [`no_proxy_matches`]).
pub fn from_env_with(
    var: impl Fn(&str) -> Option<String>,
    secure: bool,
    host: &str,
    port: u16,
) -> Option<String> {
    let first = |names: &[&str]| {
        names
            .iter()
            .filter_map(|name| var(name))
            .find(|value| !value.trim().is_empty())
    };
    let names: &[&str] = match secure {
        true => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        false => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
    };
    let url = first(names)?;
    match first(&["no_proxy", "NO_PROXY"]) {
        Some(list) if no_proxy_matches(&list, host, port) => None,
        _ => Some(url.trim().to_string()),
    }
}

/// True when the `NO_PROXY` list `list` exempts `host:port`. Entries are separated by commas (spaces
/// around them ignored); `*` matches every host; a name matches itself and its subdomains, with or
/// without a leading dot (`example.com` and `.example.com` both match `example.com` and
/// `ws.example.com`, not `badexample.com`), without regard to case; an IP literal (IPv6 with or without
/// brackets) matches that address only, and `ADDRESS/BITS` a network; `ENTRY:PORT` matches that port only.
pub fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        if let Some((network, bits)) = entry.split_once('/') {
            return match (network.parse::<IpAddr>(), bits.parse::<u8>(), host_ip) {
                (Ok(network), Ok(bits), Some(ip)) => in_network(ip, network, bits),
                _ => false,
            };
        }
        let (entry, entry_port) = match entry.parse::<IpAddr>() {
            Ok(_) => (entry, None), // a bare IPv6 literal has colons but no port
            Err(_) => match split_host_port(entry) {
                Some((name, entry_port)) => (name, entry_port),
                None => return false,
            },
        };
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        if let (Ok(entry_ip), Some(ip)) = (entry.parse::<IpAddr>(), host_ip) {
            return entry_ip == ip;
        }
        let name = entry.trim_start_matches('.').trim_end_matches('.');
        let name = name.to_ascii_lowercase();
        // An address matches addresses only: `0.0.1` is no suffix of `127.0.0.1`.
        host_ip.is_none()
            && !name.is_empty()
            && (host == name
                || host
                    .strip_suffix(name.as_str())
                    .is_some_and(|sub| sub.ends_with('.')))
    })
}

/// True when `ip` lies in `network/bits`.
fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    let mask = |width: u32| match u32::from(bits) {
        0 => 0u128,
        b if b <= width => u128::MAX << (width - b),
        _ => u128::MAX,
    };
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let m = mask(32);
            (u128::from(u32::from(ip)) & m) == (u128::from(u32::from(net)) & m)
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let m = mask(128);
            (u128::from(ip) & m) == (u128::from(net) & m)
        }
        _ => false,
    }
}

/// Splits `host[:port]` (an IPv6 literal in brackets) into the host without brackets and the port;
/// `None` when the host is empty or the port not a number.
pub fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => Some(port.parse().ok()?),
        None => None,
    };
    (!host.is_empty()).then_some((host, port))
}

/// `%XX` escapes of a URL's userinfo decoded; the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, &'static str> {
    const BAD: &str = "invalid percent-encoding in the proxy's user or password";
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex = [bytes.next().ok_or(BAD)?, bytes.next().ok_or(BAD)?];
        let hex = std::str::from_utf8(&hex).map_err(|_| BAD)?;
        out.push(u8::from_str_radix(hex, 16).map_err(|_| BAD)?);
    }
    String::from_utf8(out).map_err(|_| BAD)
}

/// Why a connection through a proxy failed: which proxy and what went wrong. Carried inside the
/// adapters' `Error::Io` (find it with [`proxy_error`]), as their TLS errors are.
pub struct ProxyError {
    proxy: String,
    failure: Failure,
}

/// What went wrong with a proxy.
#[derive(Debug)]
enum Failure {
    Url(&'static str),
    Tunnel(TunnelError),
    Io(io::Error),
}

impl ProxyError {
    fn new(proxy: String, failure: Failure) -> ProxyError {
        ProxyError { proxy, failure }
    }

    /// An `io::Error` holding a [`ProxyError`] for the tunnel through `proxy` that `error` refused.
    pub fn tunnel(proxy: &ProxyUrl, error: TunnelError) -> io::Error {
        let kind = match error {
            TunnelError::Refused(_) | TunnelError::Socks5Refused(_) => {
                io::ErrorKind::ConnectionRefused
            }
            TunnelError::NoAcceptableMethod | TunnelError::AuthenticationFailed(_) => {
                io::ErrorKind::PermissionDenied
            }
            TunnelError::InvalidTarget | TunnelError::InvalidCredentials => {
                io::ErrorKind::InvalidInput
            }
            _ => io::ErrorKind::InvalidData,
        };
        let failure = Failure::Tunnel(error);
        io::Error::new(kind, ProxyError::new(proxy.address(), failure))
    }

    /// An `io::Error` holding a [`ProxyError`] for the I/O failure `error` with `proxy`.
    pub fn io(proxy: &ProxyUrl, error: io::Error) -> io::Error {
        let kind = error.kind();
        io::Error::new(kind, ProxyError::new(proxy.address(), Failure::Io(error)))
    }

    /// `host:port` of the proxy.
    pub fn proxy(&self) -> &str {
        &self.proxy
    }

    /// The proxy's refusal or broken answer (an HTTP status line, a SOCKS5 reply code...); `None` when
    /// the failure was I/O (the proxy unreachable, the connection dropped or timed out) or the URL.
    pub fn tunnel_error(&self) -> Option<&TunnelError> {
        match &self.failure {
            Failure::Tunnel(error) => Some(error),
            _ => None,
        }
    }

    /// Wraps a [`choose`] failure (an unusable proxy URL) in an `io::Error`.
    pub fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, self)
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Failure::Url(why) => write!(f, "{}: {why}", self.proxy),
            Failure::Tunnel(error) => write!(f, "proxy {}: {error}", self.proxy),
            Failure::Io(error) => write!(f, "proxy {}: {error}", self.proxy),
        }
    }
}

/// The message itself: the adapters' `Error` shows an I/O error's `Debug`, and this keeps it readable.
impl fmt::Debug for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.failure {
            Failure::Tunnel(error) => Some(error),
            Failure::Io(error) => Some(error),
            Failure::Url(_) => None,
        }
    }
}

/// The [`ProxyError`] inside `error` (an adapter's `Error`) when a proxy failed it.
pub fn proxy_error(error: &rill_ws::Error<io::Error>) -> Option<&ProxyError> {
    match error {
        rill_ws::Error::Io(io) => io.get_ref()?.downcast_ref::<ProxyError>(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_parse_with_curls_defaults_and_decoded_userinfo() {
        let p = ProxyUrl::parse("http://us%40er:p%3Ass@proxy.example:3128/").unwrap();
        assert_eq!(p.kind(), ProxyKind::Http);
        assert_eq!(p.address(), "proxy.example:3128");
        assert_eq!(p.user, Some((String::from("us@er"), String::from("p:ss"))));
        assert!(
            !format!("{p:?}").contains("p:ss"),
            "Debug hides the password"
        );
        let p = ProxyUrl::parse("proxy.example").unwrap();
        assert_eq!(
            (p.kind(), p.address()),
            (ProxyKind::Http, "proxy.example:1080".into())
        );
        let p = ProxyUrl::parse("SOCKS5H://[::1]:1081").unwrap();
        assert_eq!(
            (p.kind(), p.address()),
            (ProxyKind::Socks5, "[::1]:1081".into())
        );
        assert_eq!(
            ProxyUrl::parse("socks5://u@h").unwrap().user,
            Some(("u".into(), "".into()))
        );
        for bad in [
            "https://h:1",
            "socks4://h",
            "http://",
            "http://h:x",
            "http://%zz@h",
            "http://[::1",
        ] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
        }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_names_the_proxy_by_scheme_lowercase_first_then_all_proxy() {
        let vars = [
            ("HTTPS_PROXY", "http://upper-s"),
            ("https_proxy", "http://lower-s"),
            ("HTTP_PROXY", "http://upper"),
            ("ALL_PROXY", "socks5://all"),
        ];
        let get = |secure, vars| from_env_with(env(vars), secure, "h", 1);
        assert_eq!(get(true, &vars[..]).as_deref(), Some("http://lower-s"));
        assert_eq!(get(true, &vars[..1]).as_deref(), Some("http://upper-s"));
        assert_eq!(get(false, &vars[..]).as_deref(), Some("http://upper"));
        assert_eq!(get(false, &vars[3..]).as_deref(), Some("socks5://all"));
        assert_eq!(
            get(false, &[("http_proxy", " "), ("ALL_PROXY", "a")]).as_deref(),
            Some("a")
        );
        assert_eq!(
            get(false, &vars[..2]),
            None,
            "https_proxy is for wss:// only"
        );
        let exempt = [("HTTP_PROXY", "http://p"), ("NO_PROXY", "h")];
        assert_eq!(get(false, &exempt), None);
        let lower_wins = [
            ("HTTP_PROXY", "http://p"),
            ("NO_PROXY", "h"),
            ("no_proxy", "x"),
        ];
        assert_eq!(get(false, &lower_wins).as_deref(), Some("http://p"));
    }

    #[test]
    fn no_proxy_follows_curls_rules() {
        let m = no_proxy_matches;
        assert!(m("*", "anything", 1));
        assert!(m("example.com", "example.com", 1));
        assert!(m("example.com", "WS.Example.com", 1));
        assert!(m(".example.com", "example.com", 1));
        assert!(m(".example.com", "a.b.example.com.", 1));
        assert!(!m("example.com", "badexample.com", 1));
        assert!(!m("ws.example.com", "example.com", 1));
        assert!(m("a, b ,example.com", "example.com", 1));
        assert!(
            !m("*.example.com", "x.example.com", 1),
            "only a lone * is a wildcard"
        );
        assert!(m("example.com:8080", "example.com", 8080));
        assert!(!m("example.com:8080", "example.com", 443));
        assert!(m("127.0.0.1", "127.0.0.1", 9));
        assert!(!m("127.0.0.1", "127.0.0.10", 9));
        assert!(!m("0.0.1", "127.0.0.1", 9), "no suffix match on addresses");
        assert!(m("::1", "[::1]", 9));
        assert!(m("[::1]:9", "::1", 9));
        assert!(!m("[::1]:9", "::1", 10));
        assert!(m("10.0.0.0/8", "10.1.2.3", 9));
        assert!(!m("10.0.0.0/8", "11.0.0.1", 9));
        assert!(m("fd00::/8", "fd12::1", 9));
        assert!(m("0.0.0.0/0", "1.2.3.4", 9));
        assert!(!m("", "h", 1));
        assert!(!m(",", "h", 1));
    }
}
