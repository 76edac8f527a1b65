//! Attachments of intake tickets: the URLs a client gives, fetched by us and
//! uploaded to the Jira issue (`POST /rest/api/3/issue/{key}/attachments`,
//! multipart, `X-Atlassian-Token: no-check`), named `image<i><ext>` as
//! FireFighter names them (`i` from 0, in the order given).
//!
//! **The address guard (SSRF).** The server fetches URLs a client chose, so
//! it must not be turned against the network it runs in. Each host is
//! resolved and refused when **any** of its addresses is not a public one:
//! loopback, private (RFC 1918, `fc00::/7`), link-local (`169.254/16`, the
//! cloud metadata address `169.254.169.254` among them, `fe80::/10`),
//! unspecified, multicast, broadcast, shared (CGNAT `100.64/10`),
//! documentation, benchmarking and reserved ranges, and IPv6 forms that
//! carry such an IPv4 address (mapped `::ffff:a.b.c.d`, compatible, NAT64,
//! 6to4). The connection then goes to the addresses checked and no other
//! (pinned in the request: a second DNS answer cannot switch them), through
//! no proxy; redirects are followed by hand (at most [`MAX_REDIRECTS`]), each
//! hop checked the same way. A download stops at [`Downloader`]'s byte
//! limit (10 MiB by default) and its time limit (10 s for every hop).
//!
//! Tests need a server on 127.0.0.1: [`Downloader::allowing_loopback_for_tests`]
//! lets loopback through (nothing else). No setting reads it: only code can.
//!
//! **Exactly once.** The upload is retried on 429 only (Jira did not take
//! it); after a 5xx or a time-out the issue's attachments are read, and the
//! file counts as uploaded when Jira has it. An intake retried after a lost
//! answer reads the issue's attachments first and uploads only the
//! `image<i>` it lacks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, Url};

use crate::client::{execute, json, segment};
use crate::models::{Attachment, IssueAttachments};
use crate::{Error, JiraClient, Result};

/// Most attachments one ticket takes.
pub const MAX_ATTACHMENTS: usize = 10;
/// Longest attachment URL.
pub const MAX_URL_CHARS: usize = 2048;
/// Most redirects followed for one attachment.
pub const MAX_REDIRECTS: usize = 3;
/// Largest attachment fetched, by default.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Longest a fetch may take (every hop), by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attachments fetched and uploaded at once.
const AT_ONCE: usize = 3;

/// The URLs of the intake's `attachments` text: empty, one URL, URLs
/// separated by commas, or a list as text (`['a', 'b']`, `["a","b"]`).
/// A piece right after a comma (no space) that holds no `://` belongs to the
/// URL before it (a comma inside a URL). Every problem is returned, one sentence each:
/// more than [`MAX_ATTACHMENTS`], longer than [`MAX_URL_CHARS`], not an
/// `http`/`https` URL with a host.
pub fn parse(text: &str) -> Result<Vec<Url>, Vec<String>> {
    let mut inner = text.trim();
    if let Some(list) = inner.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        inner = list;
    }
    let mut items: Vec<String> = Vec::new();
    for piece in inner.split(',') {
        // A URL has no spaces: a piece after ", " is the next item.
        let starts_one = piece.contains("://")
            || piece.is_empty()
            || piece.starts_with(char::is_whitespace)
            || items.is_empty();
        match items.last_mut() {
            Some(last) if !starts_one => {
                last.push(',');
                last.push_str(piece);
            }
            _ => items.push(piece.to_owned()),
        }
    }
    let items: Vec<String> = items
        .iter()
        .map(|item| unquote(item.trim()).trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect();
    let mut problems = Vec::new();
    if items.len() > MAX_ATTACHMENTS {
        problems.push(format!(
            "at most {MAX_ATTACHMENTS} attachments are taken, {} were given",
            items.len()
        ));
    }
    let mut urls = Vec::new();
    for item in &items {
        match check_url(item) {
            Ok(url) => urls.push(url),
            Err(why) => problems.push(why),
        }
    }
    if problems.is_empty() {
        Ok(urls)
    } else {
        Err(problems)
    }
}

fn unquote(item: &str) -> &str {
    for quote in ['\'', '"'] {
        if let Some(inner) = item
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    item
}

/// `text` as a URL we may fetch: at most [`MAX_URL_CHARS`], `http` or
/// `https`, with a host.
pub fn check_url(text: &str) -> Result<Url, String> {
    let shown: String = text.chars().take(80).collect();
    if text.chars().count() > MAX_URL_CHARS {
        return Err(format!(
            "\"{shown}...\" is longer than {MAX_URL_CHARS} characters"
        ));
    }
    let url = Url::parse(text).map_err(|e| format!("\"{shown}\" is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "\"{shown}\" is not an http or https address (scheme \"{}\")",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err(format!("\"{shown}\" has no host"));
    }
    Ok(url)
}

/// Which addresses a fetch may connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum AddressPolicy {
    /// Public addresses only (production).
    #[default]
    PublicOnly,
    /// Public ones and loopback (tests with a local server).
    LoopbackToo,
}

/// Why `ip` is not a public address, or `None` when it is.
pub fn not_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => not_public_v4(v4),
        IpAddr::V6(v6) => not_public_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn not_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "an unspecified (\"this network\") address"),
        ([10, 0, 0, 0], 8, "a private address"),
        ([100, 64, 0, 0], 10, "a shared (carrier-grade NAT) address"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        (
            [169, 254, 0, 0],
            16,
            "a link-local address (cloud metadata among them)",
        ),
        ([172, 16, 0, 0], 12, "a private address"),
        ([192, 0, 0, 0], 24, "an IETF protocol address"),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([192, 88, 99, 0], 24, "a 6to4 relay address"),
        ([192, 168, 0, 0], 16, "a private address"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved address"),
    ];
    if ip == Ipv4Addr::BROADCAST {
        return Some("the broadcast address");
    }
    RANGES
        .iter()
        .find(|(net, bits, _)| in_v4(ip, *net, *bits))
        .map(|(_, _, why)| *why)
}

fn not_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible): the IPv4 address decides.
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return not_public_v4(embedded(s[6], s[7]));
    }
    // NAT64 64:ff9b::/96: reaches the IPv4 address it carries.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return not_public_v4(embedded(s[6], s[7]));
    }
    match s[0] {
        0xfc00..=0xfdff => return Some("a private (unique local) address"),
        0xfe80..=0xfebf => return Some("a link-local address"),
        0xfec0..=0xfeff => return Some("a site-local address"),
        0xff00..=0xffff => return Some("a multicast address"),
        _ => {}
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return Some("a documentation address");
    }
    // 2001::/23: IETF protocol assignments (Teredo, benchmarking...).
    if s[0] == 0x2001 && s[1] < 0x0200 {
        return Some("an IETF protocol address");
    }
    // 6to4 2002::/16: the IPv4 address of the relay decides.
    if s[0] == 0x2002 {
        return not_public_v4(embedded(s[1], s[2]));
    }
    // Only global unicast (2000::/3) is public.
    if s[0] & 0xe000 != 0x2000 {
        return Some("a reserved address");
    }
    None
}

/// What a fetch brought back.
#[derive(Debug, Clone)]
pub struct Download {
    /// The body.
    pub bytes: Vec<u8>,
    /// Its media type, as the server said.
    pub content_type: Option<String>,
    /// Where it was fetched from, after redirects.
    pub url: Url,
}

/// Fetches attachment URLs behind the address guard, bounded in bytes and time.
#[derive(Debug, Clone)]
pub struct Downloader {
    policy: AddressPolicy,
    max_bytes: u64,
    timeout: Duration,
}

impl Default for Downloader {
    fn default() -> Self {
        Downloader::new(DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT)
    }
}

impl Downloader {
    /// Public addresses only; at most `max_bytes` per attachment, `timeout`
    /// for all its hops.
    pub fn new(max_bytes: u64, timeout: Duration) -> Downloader {
        Downloader {
            policy: AddressPolicy::PublicOnly,
            max_bytes,
            timeout,
        }
    }

    /// **Tests only**: loopback addresses (`127.0.0.0/8`, `::1`) are let
    /// through too, so a test's local server can be fetched from. No
    /// setting turns this on; every other address is judged as usual.
    pub fn allowing_loopback_for_tests(mut self) -> Downloader {
        self.policy = AddressPolicy::LoopbackToo;
        self
    }

    fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if self.policy == AddressPolicy::LoopbackToo && ip.is_loopback() {
            return None;
        }
        not_public(ip)
    }

    /// The addresses `url`'s host resolves to, every one of them allowed;
    /// else why not.
    pub async fn check(&self, url: &Url) -> Result<Vec<SocketAddr>> {
        let refuse = |reason: String| Error::Attachment {
            url: url.to_string(),
            reason,
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| refuse("no port is known for this address".into()))?;
        let addresses: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => {
                let found =
                    tokio::time::timeout(self.timeout, tokio::net::lookup_host((name, port)))
                        .await
                        .map_err(|_| refuse(format!("resolving {name} took too long")))?
                        .map_err(|e| refuse(format!("{name} could not be resolved: {e}")))?;
                found.collect()
            }
            None => return Err(refuse("the address has no host".into())),
        };
        if addresses.is_empty() {
            return Err(refuse("the host resolves to no address".into()));
        }
        for address in &addresses {
            if let Some(why) = self.refusal(address.ip()) {
                return Err(refuse(format!(
                    "refused: the host resolves to {}, {why}",
                    address.ip()
                )));
            }
        }
        Ok(addresses)
    }

    /// Fetches `url`: checked, pinned to the checked addresses, redirects
    /// followed by hand (each hop checked), stopped at the byte limit and
    /// the time limit.
    pub async fn fetch(&self, url: &Url) -> Result<Download> {
        let failed = |reason: String| Error::Attachment {
            url: url.to_string(),
            reason,
        };
        match tokio::time::timeout(self.timeout, self.follow(url)).await {
            Ok(result) => result,
            Err(_) => Err(failed(format!(
                "the download took longer than {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }

    async fn follow(&self, first: &Url) -> Result<Download> {
        let failed = |reason: String| Error::Attachment {
            url: first.to_string(),
            reason,
        };
        let mut url = first.clone();
        for hop in 0..=MAX_REDIRECTS {
            let addresses = self.check(&url).await.map_err(|e| match e {
                Error::Attachment { url: at, reason } if at != first.as_str() => {
                    failed(format!("redirected to {at}: {reason}"))
                }
                other => other,
            })?;
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(self.timeout)
                .connect_timeout(self.timeout)
                .user_agent(concat!("firefighter-jira/", env!("CARGO_PKG_VERSION")));
            if let Some(url::Host::Domain(name)) = url.host() {
                builder = builder.resolve_to_addrs(name, &addresses);
            }
            let client = builder
                .build()
                .map_err(|e| failed(format!("could not build the HTTP client: {e}")))?;
            let response = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| failed(format!("could not be fetched: {}", e.without_url())))?;
            let status = response.status();
            if status.is_redirection() {
                if hop == MAX_REDIRECTS {
                    return Err(failed(format!("more than {MAX_REDIRECTS} redirects")));
                }
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| failed(format!("HTTP {status} without a Location")))?;
                let next = url
                    .join(location)
                    .map_err(|e| failed(format!("redirected to a bad address ({e})")))?;
                url = check_url(next.as_str())
                    .map_err(|why| failed(format!("redirected to {why}")))?;
                continue;
            }
            if !status.is_success() {
                return Err(failed(format!("the server answered HTTP {status}")));
            }
            return self.read(response, url).await;
        }
        Err(failed(format!("more than {MAX_REDIRECTS} redirects")))
    }

    async fn read(&self, mut response: reqwest::Response, url: Url) -> Result<Download> {
        let too_large = || Error::Attachment {
            url: url.to_string(),
            reason: format!("larger than {} bytes", self.max_bytes),
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes)
        {
            return Err(too_large());
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| Error::Attachment {
            url: url.to_string(),
            reason: format!("the download broke off: {}", e.without_url()),
        })? {
            if (bytes.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Download {
            bytes,
            content_type,
            url,
        })
    }
}

/// FireFighter's name of the attachment at `index`: `image<index><ext>`, the
/// extension from the URL's file name (up to 5 letters or digits), else from
/// the media type, else none.
pub fn file_name(index: usize, url: &Url, content_type: Option<&str>) -> String {
    let from_path = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .and_then(|last| last.rsplit_once('.'))
        .map(|(_, ext)| ext)
        .filter(|ext| {
            (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .map(str::to_ascii_lowercase);
    let from_type = || {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        let ext = match essence.as_str() {
            "image/png" => "png",
            "image/jpeg" => "jpg",
            "image/gif" => "gif",
            "image/webp" => "webp",
            "image/svg+xml" => "svg",
            "application/pdf" => "pdf",
            "text/plain" => "txt",
            "text/csv" => "csv",
            "application/json" => "json",
            "video/mp4" => "mp4",
            _ => return None,
        };
        Some(ext.to_owned())
    };
    match from_path.or_else(from_type) {
        Some(ext) => format!("image{index}.{ext}"),
        None => format!("image{index}"),
    }
}

/// Whether `name` is the file of attachment `index` (`image<index>` with
/// any extension).
fn is_file_of(name: &str, index: usize) -> bool {
    let stem = format!("image{index}");
    name == stem
        || name
            .strip_prefix(&stem)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// What became of one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attached {
    /// Uploaded now, under this name.
    Uploaded(String),
    /// The issue had it already (an earlier attempt uploaded it).
    AlreadyThere(String),
    /// Refused or failed: why.
    Failed(String),
}

/// One attachment's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentReport {
    /// Its position in the request (from 0).
    pub index: usize,
    /// Its URL.
    pub url: String,
    /// What became of it.
    pub outcome: Attached,
}

impl JiraClient {
    /// The attachments of an issue (`GET /rest/api/3/issue/{key}?fields=attachment`).
    pub async fn attachments(&self, issue: &str) -> Result<Vec<Attachment>> {
        let path = format!("/issue/{}", segment(issue)?);
        let query = [("fields", "attachment")];
        let found: IssueAttachments = self
            .retried(Error::is_retryable, || async {
                json(self.send(Method::GET, &path, &query, None).await?).await
            })
            .await?;
        Ok(found.fields.attachment)
    }

    /// Uploads one file to an issue (`POST /rest/api/3/issue/{key}/attachments`,
    /// the multipart part `file`). Retried on 429 only.
    pub async fn add_attachment(
        &self,
        issue: &str,
        file_name: &str,
        content_type: Option<&str>,
        bytes: &[u8],
    ) -> Result<Vec<Attachment>> {
        let path = format!("/issue/{}/attachments", segment(issue)?);
        // A media type reqwest cannot take is sent as bytes without one.
        let media = content_type
            .filter(|t| reqwest::multipart::Part::text("").mime_str(t).is_ok())
            .unwrap_or("application/octet-stream");
        self.retried(
            |e| matches!(e, Error::RateLimited { .. }),
            || async {
                let part = reqwest::multipart::Part::bytes(bytes.to_vec())
                    .file_name(file_name.to_owned())
                    .mime_str(media)
                    .map_err(|e| Error::Invalid(format!("attachment {file_name}: {e}")))?;
                let form = reqwest::multipart::Form::new().part("file", part);
                let request = self
                    .request(Method::POST, &path)
                    .header("X-Atlassian-Token", "no-check")
                    .multipart(form);
                json(execute(request).await?).await
            },
        )
        .await
    }
}

/// Fetches each URL and uploads it to `issue`, three at a time, in
/// order. With `adopted` (the issue was made by an earlier attempt), the
/// issue's attachments are read first and those it has are not sent again.
/// A failure of one attachment does not stop the others.
pub async fn attach_all(
    client: &JiraClient,
    downloader: &Downloader,
    issue: &str,
    urls: &[Url],
    adopted: bool,
) -> Result<Vec<AttachmentReport>> {
    if urls.is_empty() {
        return Ok(Vec::new());
    }
    let existing: Vec<String> = if adopted {
        client
            .attachments(issue)
            .await?
            .into_iter()
            .map(|a| a.filename)
            .collect()
    } else {
        Vec::new()
    };
    let existing = &existing;
    // Owned URLs: a stream of borrowed ones is not `Send` for axum's handlers.
    let reports = futures::stream::iter(urls.iter().cloned().enumerate())
        .map(|(index, url)| async move {
            let outcome = match existing.iter().find(|name| is_file_of(name, index)) {
                Some(name) => Attached::AlreadyThere(name.clone()),
                None => attach_one(client, downloader, issue, index, &url).await,
            };
            AttachmentReport {
                index,
                url: url.to_string(),
                outcome,
            }
        })
        .buffered(AT_ONCE)
        .collect::<Vec<_>>()
        .await;
    Ok(reports)
}

async fn attach_one(
    client: &JiraClient,
    downloader: &Downloader,
    issue: &str,
    index: usize,
    url: &Url,
) -> Attached {
    let download = match downloader.fetch(url).await {
        Ok(download) => download,
        Err(Error::Attachment { reason, .. }) => return Attached::Failed(reason),
        Err(e) => return Attached::Failed(e.to_string()),
    };
    let name = file_name(index, &download.url, download.content_type.as_deref());
    match client
        .add_attachment(
            issue,
            &name,
            download.content_type.as_deref(),
            &download.bytes,
        )
        .await
    {
        Ok(_) => Attached::Uploaded(name),
        // Jira may have taken it before failing: it counts when it is there.
        Err(e @ (Error::Unavailable { .. } | Error::Transport(_))) => {
            match client.attachments(issue).await {
                Ok(found) if found.iter().any(|a| is_file_of(&a.filename, index)) => {
                    Attached::Uploaded(name)
                }
                Ok(_) => Attached::Failed(format!("Jira did not take it: {e}")),
                Err(check) => Attached::Failed(format!(
                    "Jira did not answer ({e}), and its attachments could not be checked: {check}"
                )),
            }
        }
        Err(e) => Attached::Failed(format!("Jira did not take it: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_parser_takes_empty_one_a_list_and_listed_text() {
        assert_eq!(parse("").unwrap(), Vec::<Url>::new());
        assert_eq!(parse("  ").unwrap(), Vec::<Url>::new());
        assert_eq!(parse("[]").unwrap(), Vec::<Url>::new());
        let one = parse("https://cdn.example.com/a.png").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].as_str(), "https://cdn.example.com/a.png");
        let listed =
            parse("['https://a.example.com/1.png', 'https://b.example.com/2.jpg']").unwrap();
        assert_eq!(
            listed.iter().map(Url::as_str).collect::<Vec<_>>(),
            ["https://a.example.com/1.png", "https://b.example.com/2.jpg"]
        );
        let json_like =
            parse(r#"["https://a.example.com/1.png","https://b.example.com/2"]"#).unwrap();
        assert_eq!(json_like.len(), 2);
        let commas = parse("https://a.example.com/x?size=1,2, https://b.example.com/y,").unwrap();
        assert_eq!(
            commas.iter().map(Url::as_str).collect::<Vec<_>>(),
            [
                "https://a.example.com/x?size=1,2",
                "https://b.example.com/y"
            ]
        );
        // After ", " a piece is an item of its own, refused when it is no URL.
        let problems = parse("https://a.example.com/x, oops").unwrap_err();
        assert!(
            problems[0].contains("\"oops\" is not a URL"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_parser_refuses_too_many_too_long_and_other_schemes() {
        let eleven = (0..11)
            .map(|i| format!("https://example.com/{i}.png"))
            .collect::<Vec<_>>()
            .join(", ");
        let problems = parse(&eleven).unwrap_err();
        assert!(problems[0].contains("at most 10"), "{problems:?}");
        let ten = (0..10)
            .map(|i| format!("https://example.com/{i}.png"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(parse(&ten).unwrap().len(), 10);
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(parse(&long).unwrap_err()[0].contains("longer than 2048"));
        let ok_long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS - 20));
        assert_eq!(parse(&ok_long).unwrap().len(), 1);
        for bad in [
            "file:///etc/passwd",
            "ftp://example.com/a.png",
            "gopher://example.com:70/",
            "javascript:alert(1)",
            "not a url",
        ] {
            let problems = parse(bad).unwrap_err();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
        }
        let problems = parse("https://ok.example.com/a, ftp://x.example.com/b").unwrap_err();
        assert!(problems[0].contains("ftp"), "{problems:?}");
    }

    #[test]
    fn only_public_addresses_pass_the_guard() {
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.2.10",
            "198.51.100.1",
            "203.0.113.7",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "100::1",
        ] {
            assert!(not_public(ip(refused)).is_some(), "{refused} passed");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(not_public(ip(public)), None, "{public} refused");
        }
        assert_eq!(
            not_public(ip("169.254.169.254")),
            Some("a link-local address (cloud metadata among them)")
        );
    }

    #[test]
    fn the_test_policy_lets_loopback_through_and_nothing_else() {
        let test = Downloader::default().allowing_loopback_for_tests();
        assert_eq!(test.refusal(ip("127.0.0.1")), None);
        assert_eq!(test.refusal(ip("::1")), None);
        assert_eq!(test.refusal(ip("::ffff:127.0.0.1")), None);
        for refused in [
            "10.0.0.1",
            "169.254.169.254",
            "192.168.0.1",
            "0.0.0.0",
            "fe80::1",
        ] {
            assert!(test.refusal(ip(refused)).is_some(), "{refused}");
        }
        let production = Downloader::default();
        assert!(production.refusal(ip("127.0.0.1")).is_some());
        assert!(production.refusal(ip("::ffff:127.0.0.1")).is_some());
    }

    #[tokio::test]
    async fn literal_and_resolved_private_hosts_are_refused() {
        let guard = Downloader::default();
        for url in [
            "http://127.0.0.1/a.png",
            "http://[::1]:8080/a.png",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/",
            "http://2130706433/",
            "http://127.1/",
            "http://[::ffff:7f00:1]/",
            "http://localhost:9/a.png",
        ] {
            let e = guard.check(&Url::parse(url).unwrap()).await.unwrap_err();
            assert!(
                matches!(&e, Error::Attachment { reason, .. } if reason.starts_with("refused")),
                "{url}: {e}"
            );
        }
        let e = guard
            .check(&Url::parse("http://localhost/").unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("a loopback address"), "{e}");
    }

    #[test]
    fn file_names_follow_the_original() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            file_name(0, &url("https://x.example.com/shot.PNG"), None),
            "image0.png"
        );
        assert_eq!(
            file_name(
                3,
                &url("https://x.example.com/get?id=1"),
                Some("image/jpeg; q=1")
            ),
            "image3.jpg"
        );
        assert_eq!(
            file_name(1, &url("https://x.example.com/blob"), None),
            "image1"
        );
        assert_eq!(
            file_name(
                2,
                &url("https://x.example.com/a.verylongext"),
                Some("application/pdf")
            ),
            "image2.pdf"
        );
        assert!(is_file_of("image1.png", 1));
        assert!(is_file_of("image1", 1));
        assert!(!is_file_of("image10.png", 1));
        assert!(!is_file_of("image1x", 1));
    }
}
