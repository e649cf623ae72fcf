//! Outbound HTTP to addresses a tenant chooses (webhooks), without server-side request forgery.
//!
//! A URL is parsed by a real URL parser (WHATWG: decimal, octal and hexadecimal IPv4 forms become
//! the address they mean), must be `https` without userinfo, and every address its host resolves
//! to must be public: loopback, private, link-local (cloud metadata), unique-local, CGNAT,
//! multicast, documentation, reserved and IPv4-in-IPv6 forms of them are refused. The check runs
//! at registration and again at every delivery, and the delivery connects to the address that was
//! checked (the name is not resolved a second time, so DNS rebinding gains nothing). Redirects are
//! not followed. Only addresses named in the test-only setting `webhook_test_addresses` may be
//! loopback, and only they may use plain `http`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

/// Why an outbound URL or address is refused. Never carries the URL (it may hold a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a URL, or longer than 2048 characters.
    #[error("not a URL of at most 2048 characters")]
    Syntax,
    /// Another scheme than https.
    #[error("https is required")]
    Scheme,
    /// `user:password@` in the URL.
    #[error("a URL must not carry a user name or password")]
    Userinfo,
    /// No host.
    #[error("the URL has no host")]
    NoHost,
    /// The host names or resolves to a forbidden address class.
    #[error("the host resolves to a {0} address, which webhooks may not reach")]
    Address(&'static str),
    /// The name does not resolve.
    #[error("the host name does not resolve")]
    Unresolved,
    /// A privileged port other than 80 and 443, or port 0.
    #[error("the port must be 80, 443 or 1024 and above")]
    Port,
}

/// The class of an address outbound requests may not reach, or `None` for a public address.
pub fn forbidden_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "this-network",
        _ if ip.is_loopback() => "loopback",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "private",
        (169, 254, _) => "link-local (cloud metadata)",
        (100, 64..=127, _) => "shared (CGNAT)",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (192, 88, 99) => "6to4 relay",
        _ if ip.is_multicast() => "multicast",
        _ if a >= 240 => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4).or(Some("IPv4-mapped"));
    }
    let s = ip.segments();
    Some(match s {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible",
        [0, 0, 0, 0, 0xffff, 0, _, _] => "IPv4-translated",
        [0x64, 0xff9b, ..] => "NAT64",
        [x, ..] if x & 0xfe00 == 0xfc00 => "unique-local",
        [x, ..] if x & 0xffc0 == 0xfe80 => "link-local",
        [x, ..] if x & 0xff00 == 0xff00 => "multicast",
        // Only global unicast (2000::/3) is reachable, without its special-purpose blocks.
        [x, ..] if x & 0xe000 != 0x2000 => "reserved",
        [0x2001, 0xdb8, ..] | [0x3fff, 0..=0x0fff, ..] => "documentation",
        [0x2001, 0, ..] => "Teredo",
        [0x2001, 0x0000..=0x01ff, ..] => "IETF protocol assignment",
        [0x2002, ..] => "6to4",
        _ => return None,
    })
}

/// Ports a webhook may use: 80, 443, or an unprivileged port (a privileged one names a service
/// such as SSH or SMTP, not a web hook).
fn allowed_port(port: u16) -> bool {
    port == 80 || port == 443 || port >= 1024
}

/// A checked URL: its parsed form and the host and port to resolve.
#[derive(Debug, Clone)]
pub struct Target {
    url: url::Url,
    host: HostKind,
    port: u16,
}

#[derive(Debug, Clone)]
enum HostKind {
    Ip(IpAddr),
    Name(String),
}

/// Resolves host names (injected so that tests never touch DNS).
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host`.
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver.
#[derive(Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.map(|a| a.ip()).collect()) })
    }
}

/// One POST to a checked address.
#[derive(Debug)]
pub struct Post {
    /// The URL (its host is used for TLS and the Host header).
    pub url: url::Url,
    /// The checked addresses to connect to, in order.
    pub addrs: Vec<SocketAddr>,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// Sends a checked POST (injected so that tests can record what would be connected to).
pub trait Transport: Send + Sync + 'static {
    /// The HTTP status of the answer, or why there was none (never containing the URL).
    fn post(&self, post: Post) -> BoxFuture<'_, Result<u16, String>>;
}

/// reqwest, pinned to the checked addresses, no redirects, 10 s timeout.
#[derive(Debug, Default)]
pub struct HttpTransport;

impl Transport for HttpTransport {
    fn post(&self, post: Post) -> BoxFuture<'_, Result<u16, String>> {
        Box::pin(async move {
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(5))
                .no_proxy();
            if let Some(host) = post.url.host_str() {
                builder = builder.resolve_to_addrs(host, &post.addrs);
            }
            let client = builder.build().map_err(|e| e.without_url().to_string())?;
            let mut request = client.post(post.url);
            for (name, value) in post.headers {
                request = request.header(name, value);
            }
            let response = request.body(post.body).send().await.map_err(|e| e.without_url().to_string())?;
            Ok(response.status().as_u16())
        })
    }
}

/// The outbound side: URL checks, resolution and delivery.
#[derive(Clone)]
pub struct Egress {
    resolver: Arc<dyn Resolve>,
    transport: Arc<dyn Transport>,
    test_addresses: Arc<[IpAddr]>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress").field("test_addresses", &self.test_addresses).finish_non_exhaustive()
    }
}

impl Egress {
    /// The production egress: system DNS and reqwest; `test_addresses` may be reached although
    /// loopback (tests only).
    pub fn new(test_addresses: &[IpAddr]) -> Self {
        Self::with(Arc::new(SystemResolver), Arc::new(HttpTransport), test_addresses)
    }

    /// An egress with an injected resolver and transport.
    pub fn with(resolver: Arc<dyn Resolve>, transport: Arc<dyn Transport>, test_addresses: &[IpAddr]) -> Self {
        Self { resolver, transport, test_addresses: test_addresses.into() }
    }

    fn allowed(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.test_addresses.contains(&ip) {
            return Ok(());
        }
        forbidden_class(ip).map_or(Ok(()), |class| Err(Refusal::Address(class)))
    }

    /// Checks what can be checked without DNS: syntax, scheme, userinfo, a literal address.
    pub fn parse(&self, text: &str) -> Result<Target, Refusal> {
        if text.len() > 2048 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Refusal::Syntax);
        }
        let url = url::Url::parse(text).map_err(|_| Refusal::Syntax)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Userinfo);
        }
        let host = match url.host() {
            Some(url::Host::Ipv4(ip)) => HostKind::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => HostKind::Ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => HostKind::Name(name.trim_end_matches('.').to_ascii_lowercase()),
            None => return Err(Refusal::NoHost),
        };
        match url.scheme() {
            "https" => {}
            // Plain http only to an address the test-only setting names.
            "http" if matches!(host, HostKind::Ip(ip) if self.test_addresses.contains(&ip)) => {}
            _ => return Err(Refusal::Scheme),
        }
        if let HostKind::Ip(ip) = host {
            self.allowed(ip)?;
        }
        let port = url.port_or_known_default().ok_or(Refusal::Syntax)?;
        if !allowed_port(port) {
            return Err(Refusal::Port);
        }
        Ok(Target { url, host, port })
    }

    /// Resolves a target and checks every address; all must be allowed (a name with one private
    /// address among public ones is refused: which one a client picks is not ours to predict).
    pub async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, Refusal> {
        let ips = match &target.host {
            HostKind::Ip(ip) => vec![*ip],
            HostKind::Name(name) => {
                if name == "localhost" || name.ends_with(".localhost") {
                    return Err(Refusal::Address("loopback"));
                }
                let ips = self.resolver.resolve(name, target.port).await.map_err(|_| Refusal::Unresolved)?;
                if ips.is_empty() {
                    return Err(Refusal::Unresolved);
                }
                ips
            }
        };
        for ip in &ips {
            self.allowed(*ip)?;
        }
        Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, target.port)).collect())
    }

    /// Checks a URL completely (registration).
    pub async fn check(&self, text: &str) -> Result<Target, Refusal> {
        let target = self.parse(text)?;
        self.resolve(&target).await?;
        Ok(target)
    }

    /// Checks again and POSTs to the checked addresses; the HTTP status, or why not.
    pub async fn post(&self, text: &str, headers: Vec<(&'static str, String)>, body: Vec<u8>) -> Result<u16, String> {
        let target = self.parse(text).map_err(|e| e.to_string())?;
        let addrs = self.resolve(&target).await.map_err(|e| e.to_string())?;
        self.transport.post(Post { url: target.url, addrs, headers, body }).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// A resolver from a table; a name not in it does not resolve.
    struct Table(HashMap<&'static str, Vec<IpAddr>>);

    impl Resolve for Table {
        fn resolve<'a>(&'a self, host: &'a str, _port: u16) -> BoxFuture<'a, std::io::Result<Vec<IpAddr>>> {
            let found = self.0.get(host).cloned();
            Box::pin(async move { found.ok_or_else(|| std::io::Error::other("no such name")) })
        }
    }

    /// Records every connection it is asked to make and answers 200.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<SocketAddr>>);

    impl Transport for Recorder {
        fn post(&self, post: Post) -> BoxFuture<'_, Result<u16, String>> {
            if let Ok(mut seen) = self.0.lock() {
                seen.extend(post.addrs);
            }
            Box::pin(async { Ok(200) })
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn egress(test: &[IpAddr]) -> (Egress, Arc<Recorder>) {
        let table = Table(HashMap::from([
            ("hooks.example.com", vec![ip("93.184.215.14")]),
            ("rebind.example.com", vec![ip("93.184.215.14"), ip("127.0.0.1")]),
            ("internal.example.com", vec![ip("10.1.2.3")]),
            ("v6local.example.com", vec![ip("fd00::1")]),
            ("metadata.google.internal", vec![ip("169.254.169.254")]),
        ]));
        let recorder = Arc::new(Recorder::default());
        (Egress::with(Arc::new(table), recorder.clone(), test), recorder)
    }

    #[tokio::test]
    async fn every_forbidden_class_and_trick_is_refused_without_a_connection() {
        let (e, recorder) = egress(&[]);
        let refused = [
            ("https://127.0.0.1/x", Refusal::Address("loopback")),
            ("https://127.1.2.3/x", Refusal::Address("loopback")),
            ("https://2130706433/x", Refusal::Address("loopback")),
            ("https://0x7f000001/x", Refusal::Address("loopback")),
            ("https://0177.0.0.1/x", Refusal::Address("loopback")),
            ("https://[::1]/x", Refusal::Address("loopback")),
            ("https://[::ffff:127.0.0.1]/x", Refusal::Address("loopback")),
            ("https://[::ffff:7f00:1]/x", Refusal::Address("loopback")),
            ("https://[::127.0.0.1]/x", Refusal::Address("IPv4-compatible")),
            ("https://[64:ff9b::a9fe:a9fe]/x", Refusal::Address("NAT64")),
            ("https://[2002:7f00:1::]/x", Refusal::Address("6to4")),
            ("https://[::ffff:0:169.254.169.254]/x", Refusal::Address("IPv4-translated")),
            ("https://[::ffff:0:127.0.0.1]/x", Refusal::Address("IPv4-translated")),
            ("https://[100:0:0:1::1]/x", Refusal::Address("reserved")),
            ("https://[4000::1]/x", Refusal::Address("reserved")),
            ("https://[5f00::1]/x", Refusal::Address("reserved")),
            ("https://[3fff::1]/x", Refusal::Address("documentation")),
            ("https://[2001:2::1]/x", Refusal::Address("IETF protocol assignment")),
            ("https://hooks.example.com:22/x", Refusal::Port),
            ("https://hooks.example.com:0/x", Refusal::Port),
            ("https://0.0.0.0/x", Refusal::Address("this-network")),
            ("https://[::]/x", Refusal::Address("unspecified")),
            ("https://10.0.0.1/x", Refusal::Address("private")),
            ("https://172.16.5.4/x", Refusal::Address("private")),
            ("https://192.168.1.1/x", Refusal::Address("private")),
            ("https://169.254.169.254/latest/meta-data/", Refusal::Address("link-local (cloud metadata)")),
            ("https://[fe80::1]/x", Refusal::Address("link-local")),
            ("https://[fd00:ec2::254]/x", Refusal::Address("unique-local")),
            ("https://100.64.0.1/x", Refusal::Address("shared (CGNAT)")),
            ("https://224.0.0.1/x", Refusal::Address("multicast")),
            ("https://255.255.255.255/x", Refusal::Address("reserved")),
            ("https://192.0.2.1/x", Refusal::Address("documentation")),
            ("https://localhost/x", Refusal::Address("loopback")),
            ("https://api.localhost/x", Refusal::Address("loopback")),
            ("https://internal.example.com/x", Refusal::Address("private")),
            ("https://rebind.example.com/x", Refusal::Address("loopback")),
            ("https://v6local.example.com/x", Refusal::Address("unique-local")),
            ("https://metadata.google.internal/computeMetadata/v1/", Refusal::Address("link-local (cloud metadata)")),
            ("https://nowhere.invalid/x", Refusal::Unresolved),
            ("http://hooks.example.com/x", Refusal::Scheme),
            ("http://127.0.0.1:1@2130706433/x", Refusal::Userinfo),
            ("https://user@hooks.example.com/x", Refusal::Userinfo),
            ("https://hooks.example.com:443@127.0.0.1/x", Refusal::Userinfo),
            ("ftp://hooks.example.com/x", Refusal::Scheme),
            ("file:///etc/passwd", Refusal::NoHost),
            ("gopher://127.0.0.1:6379/_INFO", Refusal::Scheme),
            ("https://hooks.example.com/ x", Refusal::Syntax),
            ("not a url", Refusal::Syntax),
        ];
        for (url, why) in refused {
            assert_eq!(e.check(url).await.err(), Some(why.clone()), "registration of {url}");
            let delivered = e.post(url, vec![], b"{}".to_vec()).await;
            assert_eq!(delivered, Err(why.to_string()), "delivery to {url}");
        }
        assert!(recorder.0.lock().unwrap().is_empty(), "no connection was attempted");
        // A public name is delivered to the address that was checked, nothing else.
        assert_eq!(e.post("https://hooks.example.com/in", vec![], b"{}".to_vec()).await, Ok(200));
        assert!(e.parse("https://[2606:4700::1111]:8443/x").is_ok(), "public IPv6 on an unprivileged port");
        assert_eq!(*recorder.0.lock().unwrap(), vec!["93.184.215.14:443".parse::<SocketAddr>().unwrap()]);
    }

    #[tokio::test]
    async fn only_named_test_addresses_may_be_loopback_or_plain_http() {
        let (e, _) = egress(&[ip("127.0.0.1")]);
        assert!(e.check("http://127.0.0.1:8080/hook").await.is_ok());
        assert!(e.check("https://127.0.0.1:8443/hook").await.is_ok());
        assert_eq!(e.check("http://127.0.0.2/hook").await.err(), Some(Refusal::Scheme));
        assert_eq!(e.check("https://127.0.0.2/hook").await.err(), Some(Refusal::Address("loopback")));
        assert_eq!(e.check("http://localhost:8080/hook").await.err(), Some(Refusal::Scheme));
    }
}
