//! Fetching an image from a URL for `POST /v1/images`, without becoming a way into the
//! network we run in: only listed origins; every address checked before connecting, and the
//! connection pinned to the address checked; redirects checked the same way; bounded time and
//! size.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use url::{Host, Url};

use crate::domain::ApiError;

const MAX_REDIRECTS: usize = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// The reference's storage origins that serve files themselves: where images may be fetched
/// from by default. Its Dropbox, Google Drive and OneDrive entries are left out: their links
/// always redirect to other hosts (dropboxusercontent.com, drive.usercontent.google.com,
/// onedrive.live.com), so a fetch from them could only be refused.
pub const DEFAULT_ALLOWLIST: &str = "https://storage.img-processing.com/*,\
https://*.s3.*.amazonaws.com/*,https://*.s3.amazonaws.com/*,https://s3.amazonaws.com/*,\
https://*.blob.core.windows.net/*,https://*.r2.dev/*,https://storage.googleapis.com/*";

/// Which URLs may be fetched.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchConfig {
    /// Comma-separated URL patterns (`scheme://host[:port]/path`, `*` as wildcard) that create
    /// from URL may fetch.
    #[arg(long, env = "IMGFORGE_URL_ALLOWLIST", default_value = DEFAULT_ALLOWLIST)]
    pub url_allowlist: String,
    /// For tests only: also allow loopback addresses (every other private range stays refused).
    #[arg(long, env = "IMGFORGE_URL_ALLOW_LOOPBACK", default_value_t = false)]
    pub url_allow_loopback: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            url_allowlist: DEFAULT_ALLOWLIST.to_owned(),
            url_allow_loopback: false,
        }
    }
}

/// A parsed allowlist entry.
#[derive(Debug, Clone)]
struct Pattern {
    scheme: String,
    host: String,
    /// `None` for the scheme's default port, `Some("*")` for any.
    port: Option<String>,
    path: String,
}

impl Pattern {
    fn parse(raw: &str) -> Option<Self> {
        let (scheme, rest) = raw.trim().split_once("://")?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/*"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.to_owned())),
            None => (authority, None),
        };
        Some(Self {
            scheme: scheme.to_ascii_lowercase(),
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_owned(),
        })
    }

    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let port_matches = match (&self.port, url.port()) {
            (None, None) => true,
            (Some(any), _) if any == "*" => true,
            (Some(port), Some(actual)) => port.parse() == Ok(actual),
            _ => false,
        };
        self.scheme == url.scheme()
            && port_matches
            && glob(self.host.as_bytes(), host.as_bytes(), true)
            && glob(self.path.as_bytes(), url.path().as_bytes(), false)
    }
}

/// `*` matches any run of characters: at least one in a host, any number in a path.
fn glob(pattern: &[u8], text: &[u8], in_host: bool) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            let first = usize::from(in_host);
            (first..=text.len()).any(|taken| glob(rest, &text[taken..], in_host))
        }
        Some((&expected, rest)) => {
            text.first() == Some(&expected) && glob(rest, &text[1..], in_host)
        }
    }
}

#[derive(Debug, Clone)]
pub struct FetchPolicy {
    allowlist: Vec<Pattern>,
    allow_loopback: bool,
}

impl FetchPolicy {
    pub fn new(config: &FetchConfig) -> Self {
        Self {
            allowlist: config
                .url_allowlist
                .split(',')
                .filter(|entry| !entry.trim().is_empty())
                .filter_map(Pattern::parse)
                .collect(),
            allow_loopback: config.url_allow_loopback,
        }
    }

    /// Why `url` may not be fetched, if it may not, before any address is looked up.
    fn refuse_url(&self, url: &Url) -> Option<String> {
        if !url.username().is_empty() || url.password().is_some() {
            return Some("url must not carry credentials".into());
        }
        if !self
            .allowlist
            .iter()
            .any(|pattern| pattern.scheme == url.scheme())
        {
            return Some("url must be an https URL".into());
        }
        if !self.allowlist.iter().any(|pattern| pattern.matches(url)) {
            return Some(format!(
                "url is not on an allowed origin ({} is not accepted; the server's \
                 IMGFORGE_URL_ALLOWLIST lists the allowed ones)",
                url.origin().ascii_serialization()
            ));
        }
        None
    }

    fn refuse_address(&self, address: IpAddr) -> Option<&'static str> {
        let address = canonical(address);
        if self.allow_loopback && address.is_loopback() {
            return None;
        }
        forbidden(address)
    }

    /// The address to connect to for `url`: every address its host has must be public.
    async fn address(&self, url: &Url) -> Result<SocketAddr, FetchError> {
        let port = url.port_or_known_default().ok_or("url has no port")?;
        let candidates: Vec<IpAddr> = match url.host() {
            Some(Host::Ipv4(address)) => vec![IpAddr::V4(address)],
            Some(Host::Ipv6(address)) => vec![IpAddr::V6(address)],
            Some(Host::Domain(domain)) => {
                tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::lookup_host((domain, port)))
                    .await
                    .map_err(|_| {
                        FetchError::Failed(format!(
                            "url's host {domain} could not be resolved in time"
                        ))
                    })?
                    .map_err(|_| {
                        FetchError::Failed(format!("url's host {domain} could not be resolved"))
                    })?
                    .map(|socket| socket.ip())
                    .collect()
            }
            None => return Err("url has no host".into()),
        };
        // One refused address refuses them all: a second answer must not switch the target.
        // The message names the kind of address, never the address: a client must not learn
        // what internal names resolve to.
        for &address in &candidates {
            if let Some(kind) = self.refuse_address(address) {
                return Err(format!("url points to a {kind} address, which is not allowed").into());
            }
        }
        let address = candidates.first().ok_or("url's host has no address")?;
        Ok(SocketAddr::new(*address, port))
    }

    /// Fetches `raw` (following up to three redirects, each checked like the first) and returns
    /// its bytes, at most `max_bytes` of them. Every refusal and failure is a message about
    /// `url`, meant for the client.
    pub async fn fetch(&self, raw: &str, max_bytes: u64) -> Result<Bytes, FetchError> {
        tokio::time::timeout(FETCH_TIMEOUT, self.fetch_unbounded(raw, max_bytes))
            .await
            .map_err(|_| {
                FetchError::Failed(format!(
                    "url took more than {} seconds",
                    FETCH_TIMEOUT.as_secs()
                ))
            })?
    }

    async fn fetch_unbounded(&self, raw: &str, max_bytes: u64) -> Result<Bytes, FetchError> {
        let mut url = Url::parse(raw).map_err(|_| "url must be a valid URL")?;
        for _ in 0..=MAX_REDIRECTS {
            if let Some(refusal) = self.refuse_url(&url) {
                return Err(refusal.into());
            }
            let address = self.address(&url).await?;
            let mut client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(CONNECT_TIMEOUT);
            if let Some(Host::Domain(domain)) = url.host() {
                // Connect to the address that was checked, whatever DNS says next.
                client = client.resolve_to_addrs(domain, &[address]);
            }
            let client = client
                .build()
                .map_err(|error| FetchError::Failed(error.to_string()))?;
            let response = client
                .get(url.clone())
                .header("accept", "image/jpeg, image/png, image/webp")
                .send()
                .await
                .map_err(|error| {
                    FetchError::Failed(format!("url could not be fetched: {}", failure(&error)))
                })?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .ok_or("url redirected without a location")?;
                url = url
                    .join(location)
                    .map_err(|_| "url redirected to an invalid URL")?;
                continue;
            }
            if !status.is_success() {
                let answer = format!("url answered HTTP {}", status.as_u16());
                // The origin's own failure may pass; a 4xx says the same next time.
                return Err(if status.is_server_error() {
                    FetchError::Failed(answer)
                } else {
                    FetchError::Refused(answer)
                });
            }
            return read_limited(response, max_bytes).await;
        }
        Err(format!("url redirected more than {MAX_REDIRECTS} times").into())
    }
}

/// Why create-from-URL got no image: a refusal, which a retry would meet again, or a failure
/// of the origin or the network, which it may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Refused(String),
    Failed(String),
}

impl From<String> for FetchError {
    fn from(problem: String) -> Self {
        Self::Refused(problem)
    }
}

impl From<&str> for FetchError {
    fn from(problem: &str) -> Self {
        Self::Refused(problem.to_owned())
    }
}

impl From<FetchError> for ApiError {
    fn from(error: FetchError) -> Self {
        match error {
            FetchError::Refused(problem) => Self::validation(problem),
            FetchError::Failed(problem) => Self::UpstreamFailed(problem),
        }
    }
}

async fn read_limited(
    mut response: reqwest::Response,
    max_bytes: u64,
) -> Result<Bytes, FetchError> {
    let too_large = || format!("url holds more than the {max_bytes}-byte limit");
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes)
    {
        return Err(too_large().into());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| {
        FetchError::Failed(format!("url could not be read: {}", failure(&error)))
    })? {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_large().into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// What went wrong, in words that reveal nothing of the network or the operating system.
fn failure(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "the connection timed out"
    } else if error.is_connect() {
        "the connection failed"
    } else {
        "the transfer failed"
    }
}

/// IPv4 addresses wrapped in IPv6 (mapped, translated, compatible, NAT64) are judged as the IPv4
/// address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            let embedded = Ipv4Addr::new(
                (segments[6] >> 8) as u8,
                segments[6] as u8,
                (segments[7] >> 8) as u8,
                segments[7] as u8,
            );
            let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            let translated = segments[..6] == [0, 0, 0, 0, 0xffff, 0];
            let compatible = segments[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified();
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None if nat64 || translated || compatible => IpAddr::V4(embedded),
                None => address,
            }
        }
        v4 => v4,
    }
}

/// The kind of address that must never be fetched from, if `address` is one.
fn forbidden(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if v4.is_unspecified() || a == 0 {
                Some("unspecified")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if v4.is_broadcast() || a >= 240 {
                Some("reserved")
            } else if a == 100 && (64..128).contains(&b) {
                Some("shared (carrier-grade NAT)")
            } else if a == 198 && (18..20).contains(&b) {
                Some("benchmarking")
            } else if v4.is_documentation() || (a == 192 && b == 0 && v4.octets()[2] == 0) {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let [first, second, third, fourth, ..] = v6.segments();
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if first & 0xfe00 == 0xfc00 {
                Some("unique-local")
            } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
                Some("link-local")
            } else if first == 0x2001 && second == 0x0db8 {
                Some("documentation")
            } else if first == 0x64 && second == 0xff9b && third == 1 {
                Some("local NAT64")
            } else if first == 0x2002 {
                // 6to4 reaches whatever IPv4 address it embeds, through a relay.
                Some("6to4")
            } else if first == 0x2001 && second == 0 {
                Some("Teredo")
            } else if first == 0x100 && second == 0 && third == 0 && fourth == 0 {
                Some("discard-only")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> bool {
        let address: IpAddr = raw.parse().unwrap();
        forbidden(canonical(address)).is_some()
    }

    #[test]
    fn every_non_public_address_is_refused() {
        for raw in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "100.64.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "2002:c000:0204::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:a00:1",
            "::127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(refused(raw), "{raw}");
        }
        for raw in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:0:808:808",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused(raw), "{raw}");
        }
    }

    #[test]
    fn every_spelling_of_an_ipv4_address_parses_to_it() {
        for raw in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
        ] {
            let url = Url::parse(raw).unwrap();
            assert_eq!(url.host(), Some(Host::Ipv4(Ipv4Addr::LOCALHOST)), "{raw}");
        }
        let mapped = Url::parse("http://[::ffff:127.0.0.1]/").unwrap();
        let Some(Host::Ipv6(v6)) = mapped.host() else {
            panic!()
        };
        assert_eq!(canonical(IpAddr::V6(v6)), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn the_default_allowlist_is_the_reference_list_less_its_redirecting_hosts() {
        let policy = FetchPolicy::new(&FetchConfig::default());
        for allowed in [
            "https://storage.img-processing.com/og-image.jpg",
            "https://my-bucket.s3.eu-west-1.amazonaws.com/a/b.png",
            "https://my.dotted.bucket.s3.amazonaws.com/x.webp",
            "https://s3.amazonaws.com/bucket/x.jpg",
            "https://account.blob.core.windows.net/c/x.jpg",
            "https://pub-123.r2.dev/x.jpg",
            "https://storage.googleapis.com/bucket/x.jpg",
        ] {
            assert_eq!(
                policy.refuse_url(&Url::parse(allowed).unwrap()),
                None,
                "{allowed}"
            );
        }
        for refused in [
            "http://storage.img-processing.com/x.jpg",
            "https://example.com/image.jpg",
            "https://storage.img-processing.com.evil.com/x.jpg",
            "https://evil.com/storage.img-processing.com/x.jpg",
            "https://r2.dev.evil.com/x.jpg",
            "https://storage.googleapis.com:8443/x.jpg",
            "https://www.dropbox.com/s/abc/x.jpg?dl=1",
            "https://drive.google.com/uc?id=1",
            "https://1drv.ms/i/s!abc",
            "https://user:pass@storage.googleapis.com/x.jpg",
            "ftp://storage.googleapis.com/x.jpg",
        ] {
            assert!(
                policy.refuse_url(&Url::parse(refused).unwrap()).is_some(),
                "{refused}"
            );
        }
    }

    #[test]
    fn globs() {
        assert!(glob(b"*.r2.dev", b"a.r2.dev", true));
        assert!(
            !glob(b"*.r2.dev", b".r2.dev", true),
            "a host star takes at least one character"
        );
        assert!(glob(b"/*", b"/", false));
        assert!(glob(b"/img/*.png", b"/img/a/b.png", false));
        assert!(!glob(b"/img/*", b"/other", false));
    }
}
