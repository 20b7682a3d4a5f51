//! WebSockets inside a hyper 1 server (feature `hyper`) or an axum 0.8 router (feature `axum`): the
//! request is checked by rill's own strict handshake, so a bad upgrade gets the same 4xx answer and reason
//! as from rill's listener, the answer's bytes come from the core's `respond`, and the upgraded connection
//! becomes a rill-tokio [`WebSocket`] (split halves, streaming, chunked sends and all).
//!
//! hyper alone: [`upgrade`] answers a request and hands back an [`Upgrading`] to await (in any task,
//! `Send` or not) once the response is on its way:
//!
//! ```no_run
//! # use bytes::Bytes; use http_body_util::Full;
//! use rill_tokio::{upgrade::upgrade, Config, Decision};
//! async fn handle(
//!     mut request: http::Request<hyper::body::Incoming>,
//! ) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
//!     let (response, upgrading) = upgrade(&mut request, Config::default(), |_| Decision::accept());
//!     if let Some(upgrading) = upgrading {
//!         tokio::spawn(async move {
//!             let mut ws = upgrading.websocket().await?;
//!             while let rill_tokio::Message::Text(text) = ws.recv().await? {
//!                 let reply = text.to_string();
//!                 ws.send_text(&reply).await?;
//!             }
//!             Ok::<_, rill_tokio::Error>(())
//!         });
//!     }
//!     Ok(response)
//! }
//! ```
//!
//! axum: the [`WebSocketUpgrade`] extractor (see its docs).
//!
//! Both accept a WebSocket over HTTP/2 as well (RFC 8441): on a connection whose server advertises
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL` (hyper's `http2::Builder::enable_connect_protocol`), a `CONNECT`
//! request with `:protocol websocket` is checked by the same rules and the same decision as the HTTP/1.1
//! upgrade it stands for (path, `Host` from `:authority`, `Sec-WebSocket-Version: 13`, subprotocols,
//! extensions, `Origin`), answered `200` (or the same 4xx with its reason), and the WebSocket runs over
//! the HTTP/2 stream, its flow control h2's. See docs/http2.md.

use crate::{Config, Decision, Error, Request, Timeout, WebSocket};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use http_body_util::Full;
use hyper::ext::Protocol;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use rill_ws::deflate::DeflateParams;
use rill_ws::handshake::owned::{respond, Agreed, Answer, Refusal};
use rill_ws::handshake::server::{parse_request, RequestError};
use rill_ws::handshake::Parsed;
use rill_ws::Role;

/// The stream under a WebSocket upgraded from hyper.
pub type UpgradedStream = TokioIo<Upgraded>;

/// A WebSocket upgraded from a hyper (or axum) request.
pub type UpgradedWebSocket = WebSocket<UpgradedStream>;

/// Answers `request` the way rill's own listener would: a valid upgrade that `decide` accepts gets
/// `101 Switching Protocols` (`200` to an HTTP/2 extended CONNECT) and an [`Upgrading`]; an invalid one gets
/// the core's 4xx (400, 405, 426, 431, 505) with its reason as the body; `decide` may also reject it or
/// answer it as plain HTTP. Return the response from the hyper service, then await
/// [`Upgrading::websocket`].
///
/// The request head is re-serialised from hyper's parsed parts and checked by the core's parser, so the
/// limits (`config.max_head_len`, 32 header lines) are the listener's too.
///
/// permessage-deflate is agreed when the client offers it and `config.deflate` accepts it, unless the
/// decision declines it (`Decision::Accept { deflate: false, .. }`); see [`Upgrading::deflate`].
pub fn upgrade<B>(
    request: &mut http::Request<B>,
    config: Config,
    decide: impl FnOnce(&Request<'_>) -> Decision,
) -> (http::Response<Full<Bytes>>, Option<Upgrading>) {
    let head = match request_head(
        request.method(),
        request.uri(),
        request.version(),
        request.headers(),
        request.extensions(),
    ) {
        Ok(head) => head,
        Err(refused) => return (refused, None),
    };
    let on_upgrade = request.extensions_mut().remove::<OnUpgrade>();
    answer(&head, on_upgrade, config, decide)
}

/// An accepted upgrade whose `101` response is being sent; await [`Upgrading::websocket`] for the socket.
#[derive(Debug)]
pub struct Upgrading {
    on_upgrade: OnUpgrade,
    config: Config,
    protocol: Option<String>,
    deflate: Option<DeflateParams>,
    /// The drain the connection joins (the axum extractor's `Drain` extension).
    ticket: Option<rill_net::Ticket>,
}

impl Upgrading {
    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate agreement (`config.deflate` and the decision allowing, the client offering).
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.deflate
    }

    /// The WebSocket, once hyper has sent the `101` and handed over the connection (within
    /// `config.handshake_timeout`). Bytes the client sent right after its request are not lost: hyper
    /// hands them over with the connection.
    pub async fn websocket(self) -> Result<UpgradedWebSocket, Error> {
        let upgraded = tokio::time::timeout(self.config.handshake_timeout, self.on_upgrade)
            .await
            .map_err(|_| Error::Timeout(Timeout::Handshake))?
            .map_err(|e| Error::Io(std::io::Error::other(format!("hyper upgrade failed: {e}"))))?;
        let buf = Vec::with_capacity(self.config.read_buffer);
        let ws = WebSocket::new(
            TokioIo::new(upgraded),
            Role::Server,
            self.config,
            buf,
            0,
            self.protocol,
            self.deflate,
        )?;
        Ok(match self.ticket {
            Some(ticket) => ws.admitted(ticket),
            None => ws,
        })
    }
}

/// A request head as HTTP/1.1 bytes for the core's parser, and whether it came over HTTP/2.
#[derive(Debug)]
struct Head {
    bytes: Vec<u8>,
    h2: bool,
}

/// The `Sec-WebSocket-Key` written into the HTTP/1.1 form of an HTTP/2 extended CONNECT, which has none
/// (RFC 8441 section 5): it satisfies the core's check, and its accept value is never sent.
const H2_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAA==";

/// The request's head as HTTP/1.1 bytes, for the core's parser. An HTTP/2 extended CONNECT with
/// `:protocol websocket` is written as the HTTP/1.1 upgrade it stands for (`GET`, `Host` from
/// `:authority`), so the same rules and the same decision apply. Any other HTTP/2 request is written as
/// it is, as HTTP/1.1 (no `Upgrade`, so it is a plain request); versions other than 1.0, 1.1 and 2 are
/// written as 1.0, which the core refuses with 505. An HTTP/2 request carrying the HTTP/1.1 handshake's
/// `Sec-WebSocket-Key` is refused with 400.
#[allow(clippy::result_large_err)] // the refusal is the response, returned at once
fn request_head(
    method: &Method,
    uri: &Uri,
    version: Version,
    headers: &HeaderMap,
    extensions: &http::Extensions,
) -> Result<Head, http::Response<Full<Bytes>>> {
    let h2 = version == Version::HTTP_2;
    let extended_connect = h2
        && method == Method::CONNECT
        && extensions
            .get::<Protocol>()
            .is_some_and(|protocol| protocol.as_str().eq_ignore_ascii_case("websocket"));
    if extended_connect && headers.contains_key(http::header::SEC_WEBSOCKET_KEY) {
        return Err(plain(
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Key is not used over HTTP/2 (RFC 8441)",
        ));
    }
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut bytes = Vec::with_capacity(256 + headers.len() * 48);
    bytes.extend_from_slice(
        match extended_connect {
            true => "GET",
            false => method.as_str(),
        }
        .as_bytes(),
    );
    bytes.push(b' ');
    bytes.extend_from_slice(target.as_bytes());
    bytes.extend_from_slice(match version {
        Version::HTTP_11 | Version::HTTP_2 => b" HTTP/1.1\r\n",
        _ => b" HTTP/1.0\r\n",
    });
    let authority = uri.authority().filter(|_| h2);
    if let Some(authority) = authority {
        bytes.extend_from_slice(b"host: ");
        bytes.extend_from_slice(authority.as_str().as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    if extended_connect {
        bytes.extend_from_slice(b"upgrade: websocket\r\nconnection: upgrade\r\n");
        bytes.extend_from_slice(b"sec-websocket-key: ");
        bytes.extend_from_slice(H2_KEY.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        if authority.is_some() && name == http::header::HOST {
            continue;
        }
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"\r\n");
    Ok(Head { bytes, h2 })
}

/// The core's answer to `head` as a hyper response, and the pending upgrade when it accepts; over HTTP/2
/// the answer is [`for_h2`]'s.
fn answer(
    head: &Head,
    on_upgrade: Option<OnUpgrade>,
    config: Config,
    decide: impl FnOnce(&Request<'_>) -> Decision,
) -> (http::Response<Full<Bytes>>, Option<Upgrading>) {
    let (response, upgrading) = answer_http1(&head.bytes, on_upgrade, config, decide);
    match head.h2 {
        true => (for_h2(response), upgrading),
        false => (response, upgrading),
    }
}

/// An HTTP/1.1 answer as the answer to an HTTP/2 request (RFC 8441 section 5): `101` becomes `200`, and
/// the fields HTTP/2 has no use for (`Upgrade`, `Connection`, `Sec-WebSocket-Accept`) are left out.
fn for_h2(mut response: http::Response<Full<Bytes>>) -> http::Response<Full<Bytes>> {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        *response.status_mut() = StatusCode::OK;
    }
    let headers = response.headers_mut();
    headers.remove(http::header::UPGRADE);
    headers.remove(http::header::CONNECTION);
    headers.remove(http::header::SEC_WEBSOCKET_ACCEPT);
    response
}

/// The core's answer to an HTTP/1.1 `head`, and the pending upgrade when it is a `101`.
fn answer_http1(
    head: &[u8],
    on_upgrade: Option<OnUpgrade>,
    config: Config,
    decide: impl FnOnce(&Request<'_>) -> Decision,
) -> (http::Response<Full<Bytes>>, Option<Upgrading>) {
    let request = match parse_request(head, config.max_head_len) {
        Ok(Parsed::Complete { value, .. }) => value,
        // The head ends with a blank line, so it is complete unless it is over the limit.
        Ok(Parsed::Partial) => return (refusal(RequestError::Malformed), None),
        Err(error) => return (refusal(error), None),
    };
    let decision = decide(&request);
    if matches!(decision, Decision::Accept { .. })
        && request.validate().is_ok()
        && on_upgrade.is_none()
    {
        return (
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this connection cannot be upgraded (hyper's upgrades are not enabled on it)",
            ),
            None,
        );
    }
    match respond(&request, &decision, config.deflate.as_ref()) {
        Ok(Answer {
            bytes,
            outcome: Ok(Agreed { protocol, deflate }),
        }) => {
            let upgrading = on_upgrade.map(|on_upgrade| Upgrading {
                on_upgrade,
                config,
                protocol,
                deflate,
                ticket: None,
            });
            (to_response(&bytes), upgrading)
        }
        Ok(Answer {
            bytes,
            outcome: Err(Refusal::Invalid(_) | Refusal::Rejected(_)),
        }) => (to_response(&bytes), None),
        // e.g. a subprotocol the client did not offer: the application's mistake, not the client's.
        Err(error) => (
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot answer the upgrade: {error}"),
            ),
            None,
        ),
    }
}

/// The core's answer for an invalid request, as a response.
fn refusal(error: RequestError) -> http::Response<Full<Bytes>> {
    let mut out = [0u8; 512];
    match error.encode_response(&mut out) {
        Ok(len) => to_response(&out[..len]),
        Err(_) => plain(StatusCode::BAD_REQUEST, error.reason()),
    }
}

fn plain(status: StatusCode, reason: &str) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(reason.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Turns the bytes the core encoded (status line, headers, body) into hyper's response type. hyper writes
/// its own status line and recomputes nothing it is given: the headers (Upgrade, Sec-WebSocket-Accept,
/// Content-Length, Connection: close...) go out as the core chose them.
fn to_response(bytes: &[u8]) -> http::Response<Full<Bytes>> {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut slots);
    let Ok(httparse::Status::Complete(head_len)) = parsed.parse(bytes) else {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unparsable handshake answer",
        );
    };
    let status = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = http::Response::new(Full::new(Bytes::copy_from_slice(&bytes[head_len..])));
    *response.status_mut() = status;
    for header in parsed.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(header.value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

#[cfg(feature = "axum")]
pub use axum_extractor::WebSocketUpgrade;

#[cfg(feature = "axum")]
mod axum_extractor {
    use super::{answer, for_h2, refusal, request_head, Head, UpgradedWebSocket, Upgrading};
    use crate::{Config, Decision, Drain, Request};
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::{IntoResponse, Response};
    use bytes::Bytes;
    use http::request::Parts;
    use http_body_util::Full;
    use hyper::upgrade::OnUpgrade;
    use rill_ws::handshake::server::{parse_request, RequestError};
    use rill_ws::handshake::{Parsed, DEFAULT_MAX_HEAD_LEN};
    use std::future::Future;

    /// An axum extractor for a WebSocket upgrade, checked by rill's strict handshake: a request that is
    /// not a valid upgrade is rejected with rill's 4xx answer and reason (a plain `GET` gets 426). The
    /// handler may look at the request, choose a subprotocol and add headers, then returns
    /// [`WebSocketUpgrade::on_upgrade`]'s `101` response (`200` over HTTP/2); the callback gets the
    /// rill-tokio WebSocket.
    ///
    /// ```no_run
    /// use axum::{response::Response, routing::get, Router};
    /// use rill_tokio::{Message, WebSocketUpgrade};
    /// async fn ws(upgrade: WebSocketUpgrade) -> Response {
    ///     upgrade.select_protocol(&["chat"]).on_upgrade(|mut ws| async move {
    ///         while let Ok(Message::Text(text)) = ws.recv().await {
    ///             let reply = text.to_string();
    ///             if ws.send_text(&reply).await.is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     })
    /// }
    /// let app: Router = Router::new().route("/ws", get(ws).connect(ws));
    /// ```
    ///
    /// HTTP/2: a WebSocket over HTTP/2 (RFC 8441) is a `CONNECT` request with `:protocol websocket`, so
    /// route `CONNECT` to the handler as well (`get(ws).connect(ws)`, or `any(ws)`), and serve the router
    /// with extended CONNECT enabled (hyper-util's `server::conn::auto::Builder`, `.http2()
    /// .enable_connect_protocol()`; `axum::serve` does not enable it): the extractor checks it by the same
    /// rules as the HTTP/1.1 upgrade, [`WebSocketUpgrade::request`] shows it as that upgrade (`GET`,
    /// `Host` from `:authority`), and the response is `200` instead of `101`. See the `axum_chat` example.
    ///
    /// The extractor checks the head against [`DEFAULT_MAX_HEAD_LEN`]; [`WebSocketUpgrade::config`] sets
    /// the connection's settings.
    ///
    /// Graceful shutdown: with a [`crate::Drain`] in the request's extensions (`.layer(Extension(drain))`
    /// on the router), each upgraded connection is enrolled in it: when the drain starts, it sends close
    /// 1001 and its receive loop sees the close, and an upgrade asked for after the start is answered
    /// `503` with `Retry-After`. Start the drain from axum's `with_graceful_shutdown` signal, which stops
    /// the HTTP side but does not know about upgraded connections (see the `axum_chat` example).
    #[derive(Debug)]
    pub struct WebSocketUpgrade {
        head: Head,
        on_upgrade: Option<OnUpgrade>,
        config: Config,
        protocol: Option<String>,
        headers: Vec<(String, String)>,
        deflate: bool,
        drain: Option<Drain>,
    }

    impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
        type Rejection = Response;

        async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
            match WebSocketUpgrade::extract(parts, false) {
                Ok(Some(upgrade)) => Ok(upgrade),
                Ok(None) => Err(refusal(RequestError::NotUpgrade).into_response()),
                Err(refused) => Err(refused.into_response()),
            }
        }
    }

    /// `Option<WebSocketUpgrade>`: `None` for a request that does not ask for a WebSocket (no
    /// `Upgrade: websocket`), so one route can serve a page and a socket; a request that asks but breaks a
    /// rule is still rejected with rill's 4xx (a head over the size limit too, whatever it asks).
    impl<S: Send + Sync> OptionalFromRequestParts<S> for WebSocketUpgrade {
        type Rejection = Response;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Response> {
            WebSocketUpgrade::extract(parts, true).map_err(IntoResponse::into_response)
        }
    }

    impl WebSocketUpgrade {
        /// Checks the request with the core's rules; on success takes hyper's upgrade handle from it.
        /// `optional`: a request without `Upgrade: websocket` (whatever its method; over HTTP/2, one that
        /// is not an extended CONNECT) is `None`, not an error.
        #[allow(clippy::result_large_err)] // the refusal is the response, returned at once
        fn extract(
            parts: &mut Parts,
            optional: bool,
        ) -> Result<Option<Self>, http::Response<Full<Bytes>>> {
            let head = request_head(
                &parts.method,
                &parts.uri,
                parts.version,
                &parts.headers,
                &parts.extensions,
            )?;
            let checked = match parse_request(&head.bytes, DEFAULT_MAX_HEAD_LEN) {
                Ok(Parsed::Complete { value, .. }) if optional && !value.is_upgrade() => {
                    return Ok(None)
                }
                Ok(Parsed::Complete { value, .. }) => value.validate().map(|_| ()),
                Ok(Parsed::Partial) => Err(RequestError::Malformed),
                Err(error) => Err(error),
            };
            if let Err(error) = checked {
                let refused = refusal(error);
                return Err(match head.h2 {
                    true => for_h2(refused),
                    false => refused,
                });
            }
            Ok(Some(WebSocketUpgrade {
                head,
                on_upgrade: parts.extensions.remove::<OnUpgrade>(),
                config: Config::default(),
                protocol: None,
                headers: Vec::new(),
                deflate: true,
                drain: parts.extensions.get::<Drain>().cloned(),
            }))
        }

        /// The request as rill parsed it: path, query, Origin, offered subprotocols, any header.
        pub fn request(&self) -> Request<'_> {
            match parse_request(&self.head.bytes, usize::MAX) {
                Ok(Parsed::Complete { value, .. }) => value,
                // The extractor parsed these same bytes successfully.
                _ => unreachable!("the head was parsed when extracted"),
            }
        }

        /// `Ok(self)` when the request's `Origin` passes `policy`, else the `403 Forbidden` to return
        /// (naming the refused origin): `match upgrade.allow_origin(&Origin::same_host()) { ... }`.
        #[allow(clippy::result_large_err)] // the refusal is the handler's response, returned at once
        pub fn allow_origin(self, policy: &crate::Origin) -> Result<Self, Response> {
            let checked = policy.check(&self.request());
            match checked {
                Ok(()) => Ok(self),
                Err(refusal) => {
                    let (response, _) = answer(&self.head, None, self.config, |_| refusal);
                    Err(response.into_response())
                }
            }
        }

        /// The connection's settings (buffers, limits, timeouts); `Config::default()` otherwise.
        pub fn config(mut self, config: Config) -> Self {
            self.config = config;
            self
        }

        /// Agrees on `protocol`, which must be one the client offered (else the answer is a 500: choosing a
        /// protocol the client did not offer is the server's mistake). See also
        /// [`WebSocketUpgrade::select_protocol`].
        pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
            self.protocol = Some(protocol.into());
            self
        }

        /// Agrees on the first subprotocol the client offers that is in `supported`, or none.
        pub fn select_protocol(mut self, supported: &[&str]) -> Self {
            let chosen = self
                .request()
                .protocols()
                .find(|offered| supported.contains(offered))
                .map(String::from);
            self.protocol = chosen;
            self
        }

        /// Declines permessage-deflate for this connection even when the client offers it and
        /// [`Config::deflate`] accepts it (by default it is agreed when both do).
        pub fn without_deflate(mut self) -> Self {
            self.deflate = false;
            self
        }

        /// Adds a header to the `101` response.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.headers.push((name.into(), value.into()));
            self
        }

        /// The `101` response, and the upgrade to await for the socket: for handlers that run the
        /// connection themselves (on a `LocalSet`, say, where nothing needs `Send`).
        pub fn into_parts(self) -> (Response, Option<Upgrading>) {
            let draining = self.drain.as_ref().is_some_and(Drain::is_started);
            let decision = match draining {
                true => Decision::Unavailable {
                    retry_after: 1,
                    reason: "the server is shutting down".into(),
                },
                false => Decision::Accept {
                    protocol: self.protocol,
                    headers: self.headers,
                    deflate: self.deflate,
                },
            };
            let (response, mut upgrading) =
                answer(&self.head, self.on_upgrade, self.config, |_| decision);
            if let (Some(upgrading), Some(drain)) = (&mut upgrading, &self.drain) {
                upgrading.ticket = Some(rill_net::Ticket::enrolled(drain));
            }
            (response.into_response(), upgrading)
        }

        /// The `101` response; once hyper has sent it, `callback` runs in a new tokio task with the
        /// WebSocket. If the upgrade fails (the client left), the callback is not called.
        pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
        where
            F: FnOnce(UpgradedWebSocket) -> Fut + Send + 'static,
            Fut: Future<Output = ()> + Send + 'static,
        {
            let (response, upgrading) = self.into_parts();
            if let Some(upgrading) = upgrading {
                tokio::spawn(async move {
                    if let Ok(ws) = upgrading.websocket().await {
                        callback(ws).await;
                    }
                });
            }
            response
        }
    }
}
