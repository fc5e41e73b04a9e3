//! The one way Galley makes requests of its own (webhooks, and any later URL fetch): a guard
//! against being turned on the network it runs in (SSRF).
//!
//! `http`/`https` only, no userinfo. A literal address is checked as the URL parser reads it
//! (WHATWG: `2130706433`, `0x7f.1` and `127.1` are all 127.0.0.1). A name is resolved by the
//! guard's own resolver, which is also the client's: the addresses checked are the addresses
//! connected to, so a DNS answer that changes between a check and the connection cannot get
//! past. No redirects, no proxies from the environment, a fixed User-Agent, no header but the
//! caller's, an answer read to 64 KB at most, one deadline for the whole attempt.

use std::{
    future::Future,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    sync::Arc,
    time::{Duration, Instant},
};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
    header::HeaderMap,
};

/// The most of an answer read; the rest is never received.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub const USER_AGENT: &str = concat!("Galley-Webhooks/", env!("CARGO_PKG_VERSION"));

/// Resolves host names: the system's resolver, or a test's.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system resolver (getaddrinfo through tokio).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    }
}

/// Why a URL or an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Which addresses may be reached.
#[derive(Debug, Clone, Copy)]
pub struct AddressPolicy {
    /// Loopback and private ranges (RFC 1918, `fc00::/7`) too: intranet receivers, tests.
    pub allow_private: bool,
}

impl AddressPolicy {
    /// Why `ip` may not be reached, if it may not.
    pub fn refuses(self, ip: IpAddr) -> Option<&'static str> {
        let class = classify(ip)?;
        match class {
            Class::Loopback | Class::Private if self.allow_private => None,
            _ => Some(class.describe()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Loopback,
    Private,
    Other(&'static str),
}

impl Class {
    fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "a loopback address",
            Self::Private => "a private address",
            Self::Other(what) => what,
        }
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix))
}

fn v6(segments: [u16; 8], prefix: u8) -> IpNet {
    let [a, b, c, d, e, f, g, h] = segments;
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(a, b, c, d, e, f, g, h),
        prefix,
    ))
}

/// What kind of special address `ip` is; `None` for an ordinary public one.
fn classify(ip: IpAddr) -> Option<Class> {
    let ranges: [(IpNet, Class); 24] = [
        (v4(127, 0, 0, 0, 8), Class::Loopback),
        (v4(10, 0, 0, 0, 8), Class::Private),
        (v4(172, 16, 0, 0, 12), Class::Private),
        (v4(192, 168, 0, 0, 16), Class::Private),
        (v4(0, 0, 0, 0, 8), Class::Other("an unspecified address")),
        (
            v4(169, 254, 0, 0, 16),
            Class::Other("a link-local or metadata address"),
        ),
        (
            v4(100, 64, 0, 0, 10),
            Class::Other("a carrier-grade NAT address"),
        ),
        (
            v4(192, 0, 0, 0, 24),
            Class::Other("an IETF protocol address"),
        ),
        (
            v4(192, 0, 2, 0, 24),
            Class::Other("a documentation address"),
        ),
        (
            v4(198, 51, 100, 0, 24),
            Class::Other("a documentation address"),
        ),
        (
            v4(203, 0, 113, 0, 24),
            Class::Other("a documentation address"),
        ),
        (
            v4(198, 18, 0, 0, 15),
            Class::Other("a benchmarking address"),
        ),
        (v4(224, 0, 0, 0, 4), Class::Other("a multicast address")),
        (
            v4(240, 0, 0, 0, 4),
            Class::Other("a reserved or broadcast address"),
        ),
        (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), Class::Loopback),
        (v6([0; 8], 128), Class::Other("an unspecified address")),
        (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), Class::Private),
        (
            v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
            Class::Other("a link-local address"),
        ),
        (
            v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
            Class::Other("a multicast address"),
        ),
        (
            v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
            Class::Other("a documentation address"),
        ),
        // Addresses that carry an IPv4 address inside: whichever it is, refused, so that no
        // spelling of 127.0.0.1 or 169.254.169.254 gets through.
        (
            v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
            Class::Other("an IPv4-mapped address"),
        ),
        (v6([0; 8], 96), Class::Other("an IPv4-compatible address")),
        (
            v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
            Class::Other("a NAT64 address"),
        ),
        (
            v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),
            Class::Other("a 6to4 address"),
        ),
    ];
    ranges
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, class)| *class)
}

/// The answer to a request, as far as it was read.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The start of the body, at most 1 KB, as text.
    pub excerpt: String,
    pub took: Duration,
}

/// Why an attempt did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("refused by the outbound guard: {0}")]
    Refused(Refused),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("{0}")]
    Transport(String),
}

/// The guarded client. Cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    resolver: Arc<GuardedResolver>,
    timeout: Duration,
}

struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    policy: AddressPolicy,
}

impl GuardedResolver {
    /// The addresses of `host` that may be reached; an error when there are none.
    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, Refused> {
        let found = self
            .lookup
            .lookup(host)
            .await
            .map_err(|err| Refused(format!("{host} does not resolve: {err}")))?;
        if found.is_empty() {
            return Err(Refused(format!("{host} does not resolve")));
        }
        // Any refused answer refuses the name: a name that points at both a public and an
        // internal address is an attempt, not an accident.
        if let Some(reason) = found.iter().find_map(|ip| self.policy.refuses(*ip)) {
            return Err(Refused(format!("{host} resolves to {reason}")));
        }
        Ok(found)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (lookup, policy) = (self.lookup.clone(), self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let guard = GuardedResolver { lookup, policy };
            let addresses = guard.addresses(&host).await?;
            let addrs: Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

impl Outbound {
    pub fn new(
        policy: AddressPolicy,
        timeout: Duration,
        lookup: Arc<dyn Lookup>,
    ) -> anyhow::Result<Self> {
        let resolver = Arc::new(GuardedResolver { lookup, policy });
        let client = reqwest::Client::builder()
            .dns_resolver(resolver.clone())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(USER_AGENT)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            resolver,
            timeout,
        })
    }

    /// Checks a URL's form and, if it names an address, the address: what can be said
    /// without the network.
    pub fn check_url(&self, raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw.trim()).map_err(|err| Refused(format!("not a URL: {err}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused("only http and https URLs are allowed".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused(
                "a URL with a user name or password is not allowed".into(),
            ));
        }
        match url.host() {
            None => return Err(Refused("the URL has no host".into())),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
        }
        Ok(url)
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        match self.resolver.policy.refuses(ip) {
            Some(reason) => Err(Refused(format!("{ip} is {reason}"))),
            None => Ok(()),
        }
    }

    /// `check_url`, then resolving the name now: what a new endpoint is checked with.
    pub async fn check_target(&self, raw: &str) -> Result<Url, Refused> {
        let url = self.check_url(raw)?;
        if let Some(url::Host::Domain(host)) = url.host() {
            self.resolver.addresses(host).await?;
        }
        Ok(url)
    }

    /// POSTs `body` to `url` with `headers`, reading at most 64 KB of the answer, all within
    /// the timeout.
    pub async fn post(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Answer, Failure> {
        let url = self.check_url(url).map_err(Failure::Refused)?;
        let started = Instant::now();
        let attempt = async {
            let mut response = self
                .client
                .post(url)
                .headers(headers)
                .body(body)
                .send()
                .await
                .map_err(|err| describe(&err))?;
            let status = response.status().as_u16();
            let mut read = Vec::new();
            while read.len() < MAX_ANSWER_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => read.extend_from_slice(&chunk),
                    Ok(None) => break,
                    // The status is the answer; a body cut short does not change it.
                    Err(_) => break,
                }
            }
            Ok::<_, Failure>((status, read))
        };
        let (status, read) = tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| Failure::TimedOut(self.timeout))??;
        Ok(Answer {
            status,
            excerpt: excerpt(&read),
            took: started.elapsed(),
        })
    }
}

/// The reason a request failed, refusals by the guard told apart.
fn describe(err: &reqwest::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Failure::Refused(refused.clone());
        }
        source = cause.source();
    }
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    Failure::Transport(text)
}

/// The first 1 KB of an answer as text, cut on a character boundary.
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]);
    let mut end = text.len().min(1024);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers each lookup with the next of `answers` (the last one repeated).
    struct Scripted {
        answers: Mutex<Vec<Vec<IpAddr>>>,
        asked: Mutex<usize>,
    }

    impl Lookup for Scripted {
        fn lookup(
            &self,
            _host: &str,
        ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>> {
            let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            *self.asked.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            let answer = if answers.len() > 1 {
                answers.remove(0)
            } else {
                answers.first().cloned().unwrap_or_default()
            };
            Box::pin(async move { Ok(answer) })
        }
    }

    fn guard(allow_private: bool, answers: Vec<Vec<IpAddr>>) -> (Outbound, Arc<Scripted>) {
        let lookup = Arc::new(Scripted {
            answers: Mutex::new(answers),
            asked: Mutex::new(0),
        });
        let outbound = Outbound::new(
            AddressPolicy { allow_private },
            Duration::from_secs(2),
            lookup.clone(),
        )
        .expect("client");
        (outbound, lookup)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn every_spelling_of_an_internal_address_is_refused() {
        let (outbound, _) = guard(false, vec![]);
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://10.0.0.5/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://192.0.2.10/",
            "http://[fe80::1]/",
            "http://[2001:db8::1]/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://user:pass@example.com/",
            "http://user@example.com/",
            "not a url",
        ] {
            assert!(outbound.check_url(url).is_err(), "{url} was let through");
        }
        for url in ["https://example.com/hook", "http://93.184.216.34:8080/x"] {
            assert!(outbound.check_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn allow_private_lets_loopback_and_private_through_but_never_metadata() {
        let (outbound, _) = guard(true, vec![]);
        for url in [
            "http://127.0.0.1:9/",
            "http://10.1.2.3/",
            "http://[fd12::1]/",
        ] {
            assert!(outbound.check_url(url).is_ok(), "{url}");
        }
        for url in [
            "http://169.254.169.254/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
        ] {
            assert!(outbound.check_url(url).is_err(), "{url}");
        }
    }

    #[tokio::test]
    async fn a_name_is_refused_when_any_of_its_addresses_is() {
        let (outbound, _) = guard(false, vec![vec![ip("93.184.216.34"), ip("10.0.0.1")]]);
        let refused = outbound.check_target("https://mixed.example/").await;
        assert!(refused.is_err(), "{refused:?}");
        let (outbound, _) = guard(false, vec![vec![]]);
        assert!(
            outbound
                .check_target("https://nothing.example/")
                .await
                .is_err()
        );
    }

    /// The name resolves to a public address when the endpoint is checked and to loopback
    /// when the connection is made: the connection is refused, and nothing reaches the
    /// listener the second answer points at.
    #[tokio::test]
    async fn a_dns_answer_that_changes_after_the_check_never_connects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener");
        let port = listener.local_addr().expect("addr").port();
        let (outbound, lookup) = guard(
            false,
            vec![vec![ip("93.184.216.34")], vec![ip("127.0.0.1")]],
        );
        let url = format!("http://rebinding.example:{port}/hook");
        assert!(outbound.check_target(&url).await.is_ok());
        let sent = outbound.post(&url, HeaderMap::new(), b"{}".to_vec()).await;
        assert!(
            matches!(sent, Err(Failure::Refused(_))),
            "{sent:?} should be refused by the guard"
        );
        assert_eq!(*lookup.asked.lock().unwrap_or_else(|e| e.into_inner()), 2);
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "a connection reached the guarded listener"
        );
    }

    #[test]
    fn an_excerpt_is_at_most_1_kb_of_whole_characters() {
        let long = "管".repeat(500);
        let cut = excerpt(long.as_bytes());
        assert!(cut.len() <= 1024 && cut.chars().all(|c| c == '管' || c == '\u{FFFD}'));
        assert_eq!(excerpt(b"ok"), "ok");
    }
}
