//! TLS: the client stream [`MaybeTlsStream`] that [`crate::connect`] returns for `ws://` and `wss://`, and
//! (feature `rustls`) TLS on both sides with rustls and its `ring` provider: `accept_tls` terminates TLS
//! in a rill server, `connect_tls` verifies a server with the caller's `rustls::ClientConfig`, and
//! [`connect`](crate::connect) verifies `wss://` servers against the roots of feature
//! `rustls-webpki-roots` or `rustls-native-roots`. See `docs/tls.md`.
//!
//! A failed TLS handshake is reported as [`Error::Io`](crate::Error::Io) carrying a `TlsError` (find it
//! with `tls_error`), which keeps rustls' reason (an unknown issuer, a certificate for another name...);
//! a failed TCP connect is any other `Error::Io`; a failed WebSocket handshake is `Error::Response`,
//! `Error::Request` or `Error::Rejected`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

#[cfg(feature = "rustls")]
pub use rustls_impl::*;

/// The stream under a client connection made by [`crate::connect`]: plain TCP for `ws://`, TLS over TCP
/// for `wss://` (feature `rustls`). Non-exhaustive, so enabling the feature breaks no `match`.
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`: the TCP stream itself.
    Plain(TcpStream),
    /// `wss://`: a rustls client session over TCP (boxed: a TLS session is a few kilobytes).
    #[cfg(feature = "rustls")]
    Rustls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl MaybeTlsStream {
    /// The TCP stream underneath (e.g. for its addresses or socket options).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            MaybeTlsStream::Plain(stream) => stream,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(stream) => stream.get_ref().0,
        }
    }

    /// True for a TLS stream.
    pub fn is_tls(&self) -> bool {
        !matches!(self, MaybeTlsStream::Plain(_))
    }
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(stream) => {
                Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(stream) => stream.is_write_vectored(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(feature = "rustls")]
mod rustls_impl {
    use crate::{accept_with, Config, Decision, Error, Request, WebSocket};
    use std::fmt;
    use std::io;
    use std::path::Path;
    use std::sync::Arc;
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};

    pub use tokio_rustls::{client, rustls, server, TlsAcceptor, TlsConnector};

    /// The ALPN protocol offered and accepted: a WebSocket handshake is HTTP/1.1.
    const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

    /// A failed TLS handshake: who it was with and why (rustls' reason is kept, see
    /// [`TlsError::rustls_error`]). Carried inside [`Error::Io`]; find it with [`tls_error`].
    pub struct TlsError {
        peer: String,
        source: io::Error,
    }

    impl TlsError {
        /// Who the handshake was with: `server NAME` on a client, `client ADDRESS` (or `client`) on a server.
        pub fn peer(&self) -> &str {
            &self.peer
        }

        /// rustls' own error when TLS itself failed (e.g. `InvalidCertificate(NotValidForName)` or
        /// `InvalidCertificate(UnknownIssuer)`); `None` when the connection broke or timed out during it.
        pub fn rustls_error(&self) -> Option<&rustls::Error> {
            self.source.get_ref()?.downcast_ref::<rustls::Error>()
        }

        /// The I/O error the TLS layer returned.
        pub fn io_error(&self) -> &io::Error {
            &self.source
        }

        fn into_error(peer: String, source: io::Error) -> Error {
            Error::Io(io::Error::new(source.kind(), TlsError { peer, source }))
        }
    }

    impl fmt::Display for TlsError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "TLS handshake with {} failed: {}",
                self.peer, self.source
            )
        }
    }

    /// The message itself: `Error`'s `Display` shows an I/O error's `Debug`, and this keeps it readable.
    impl fmt::Debug for TlsError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(self, f)
        }
    }

    impl std::error::Error for TlsError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    /// The [`TlsError`] inside `error` when it is a failed TLS handshake.
    pub fn tls_error(error: &Error) -> Option<&TlsError> {
        match error {
            Error::Io(io) => io.get_ref()?.downcast_ref::<TlsError>(),
            _ => None,
        }
    }

    /// The `ring` provider, named explicitly so that a program whose other dependencies enable rustls'
    /// `aws-lc-rs` too still builds configs (rustls refuses to guess when two providers are compiled in).
    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn invalid(message: String) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, message)
    }

    /// A client config (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`) that trusts `roots`.
    pub fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Arc::new(config)
    }

    /// Every certificate in the PEM file at `path`, as roots to trust (e.g. a private CA).
    pub fn roots_from_pem(path: impl AsRef<Path>) -> io::Result<RootCertStore> {
        let path = path.as_ref();
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?
        {
            let cert = cert.map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        }
        if roots.is_empty() {
            return Err(invalid(format!("{}: no certificate", path.display())));
        }
        Ok(roots)
    }

    /// A server config (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`, no client certificates) from a PEM
    /// certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn server_config_from_pem(
        cert_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> io::Result<Arc<ServerConfig>> {
        let (cert_chain, private_key) = (cert_chain.as_ref(), private_key.as_ref());
        let chain = CertificateDer::pem_file_iter(cert_chain)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| invalid(format!("{}: {e}", cert_chain.display())))?;
        if chain.is_empty() {
            return Err(invalid(format!("{}: no certificate", cert_chain.display())));
        }
        let key = PrivateKeyDer::from_pem_file(private_key)
            .map_err(|e| invalid(format!("{}: {e}", private_key.display())))?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| invalid(format!("certificate and key: {e}")))?;
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(Arc::new(config))
    }

    /// The config `connect("wss://...")` uses: the roots of the enabled root features, loaded once.
    #[cfg(any(feature = "rustls-webpki-roots", feature = "rustls-native-roots"))]
    pub fn default_client_config() -> io::Result<Arc<ClientConfig>> {
        use std::sync::OnceLock;
        // Loading the system's roots reads files and parses hundreds of certificates: once per process.
        static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
        CONFIG
            .get_or_init(|| {
                #[allow(unused_mut)]
                let mut roots = RootCertStore::empty();
                #[cfg(feature = "rustls-webpki-roots")]
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                #[cfg(feature = "rustls-native-roots")]
                {
                    let native = rustls_native_certs::load_native_certs();
                    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
                    if added == 0 && roots.is_empty() {
                        return Err(format!(
                            "no usable root certificate found on this system: {:?}",
                            native.errors
                        ));
                    }
                }
                Ok(client_config(roots))
            })
            .clone()
            .map_err(io::Error::other)
    }

    /// The config `connect("wss://...")` uses: none without a root feature.
    #[cfg(not(any(feature = "rustls-webpki-roots", feature = "rustls-native-roots")))]
    pub(crate) fn default_client_config() -> io::Result<Arc<ClientConfig>> {
        Err(invalid(
            "wss:// without roots to verify the server: enable feature rustls-webpki-roots or \
             rustls-native-roots, or call connect_tls with a rustls ClientConfig"
                .into(),
        ))
    }

    /// Runs the client's TLS handshake for `host` (SNI and the name the certificate must carry).
    pub(crate) async fn tls_connect<S: AsyncRead + AsyncWrite + Unpin>(
        stream: S,
        host: &str,
        tls: Arc<ClientConfig>,
        config: &Config,
    ) -> Result<client::TlsStream<S>, Error> {
        let peer = format!("server {host}");
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            Error::Io(invalid(format!(
                "{host:?} is not a DNS name or IP address for TLS"
            )))
        })?;
        match tokio::time::timeout(
            config.handshake_timeout,
            TlsConnector::from(tls).connect(name, stream),
        )
        .await
        {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => Err(TlsError::into_error(peer, error)),
            Err(_) => Err(TlsError::into_error(
                peer,
                io::Error::new(io::ErrorKind::TimedOut, "timed out"),
            )),
        }
    }

    /// Accepts TLS on `stream` with `acceptor`, then a WebSocket over it, upgrading every valid request. The
    /// TLS handshake and the WebSocket handshake each finish within `config.handshake_timeout`.
    ///
    /// `acceptor` is made once from a `ServerConfig`: `TlsAcceptor::from(server_config_from_pem(..)?)`.
    pub async fn accept_tls<S: AsyncRead + AsyncWrite + Unpin>(
        stream: S,
        acceptor: &TlsAcceptor,
        config: Config,
    ) -> Result<WebSocket<server::TlsStream<S>>, Error> {
        accept_tls_with(stream, acceptor, config, |_| Decision::accept()).await
    }

    /// [`accept_tls`] with the application's decision, as [`accept_with`]: the page and the socket of one
    /// port are both served over TLS.
    pub async fn accept_tls_with<S, F>(
        stream: S,
        acceptor: &TlsAcceptor,
        config: Config,
        decide: F,
    ) -> Result<WebSocket<server::TlsStream<S>>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
        F: FnOnce(&Request<'_>) -> Decision,
    {
        let stream = tls_accept(stream, acceptor, &config).await?;
        accept_with(stream, config, decide).await
    }

    /// The server's TLS handshake alone, bounded by `config.handshake_timeout`, failing with a
    /// [`TlsError`]: for servers that decide asynchronously (`accept_with_async`) over TLS.
    pub async fn tls_accept<S: AsyncRead + AsyncWrite + Unpin>(
        stream: S,
        acceptor: &TlsAcceptor,
        config: &Config,
    ) -> Result<server::TlsStream<S>, Error> {
        match tokio::time::timeout(config.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => Err(TlsError::into_error("client".into(), error)),
            Err(_) => Err(TlsError::into_error(
                "client".into(),
                io::Error::new(io::ErrorKind::TimedOut, "timed out"),
            )),
        }
    }
}
