//! The board's `wss://` client: [`crate::client`]'s exchange over TLS 1.3 (embedded-tls), verifying the server
//! against a CA certificate the firmware pins.
//!
//! - **Trust**: the server's chain must be signed, link by link, by the pinned CA (ECDSA P-256 with SHA-256, the
//!   only signature this build verifies), and its leaf must name the host of the URL in a DNS subjectAltName or,
//!   failing that, its Common Name. embedded-tls 0.19 does not read IP-address subjectAltNames, so a server
//!   reached by an IPv4 literal needs that address as its CN (keep the IP SAN too, for every other client).
//!   Without a clock ([`NoClock`]) validity dates are not checked: a board without a trusted time cannot.
//! - **Memory**: the caller lends the record buffers ([`READ_RECORD`] and [`WRITE_RECORD`] are the sizes to use);
//!   nothing is allocated. The verifier keeps a copy of the server's certificate chain, up to [`CHAIN_MAX`] bytes,
//!   in the future's state.
//! - **Cipher suite**: TLS_AES_128_GCM_SHA256 with a P-256 key share, which every TLS 1.3 server supports.
//! - **Entropy**: the key share and the WebSocket masking keys come from the caller's `CryptoRng` (a hardware RNG
//!   on a board, the OS on the host).

use embassy_net::{IpEndpoint, Stack};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use embassy_time::{with_timeout, Duration};
use embedded_io_async::{ErrorType, Read, Write};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, TlsConfig, TlsConnection, TlsContext,
    TLS_RECORD_OVERHEAD,
};
use rill_embassy::{Config, Flush};

use crate::client::{self, ClientError, Summary, SOCKET_BUF, WS_BUF};

/// The `rand_core` 0.6 RNG trait embedded-tls asks for (with [`CryptoRng`]).
pub use embedded_tls::CryptoRngCore;
pub use embedded_tls::{CryptoRng, NoClock, TlsClock, TlsError};

/// Read record buffer: one whole TLS record, the largest a server may send (16 KiB of plaintext, plus 256 bytes
/// of TLS 1.3 ciphertext expansion). embedded-tls can offer the max_fragment_length extension for smaller records,
/// but servers may ignore it (rustls does), and a record that does not fit fails the connection.
pub const READ_RECORD: usize = 16384 + 256;
/// Write record buffer: a rill write buffer's worth of bytes per record ([`WS_BUF`]) plus embedded-tls's
/// per-record overhead. Larger writes are split into several records, so this only trades RAM for records.
pub const WRITE_RECORD: usize = WS_BUF + TLS_RECORD_OVERHEAD;
/// Bytes of the server's certificate chain the verifier keeps for the CertificateVerify check: a leaf and an
/// intermediate of ECDSA P-256 certificates take about 1.2 KB.
pub const CHAIN_MAX: usize = 2048;

/// The TLS handshake must finish within this (software P-256 on a Cortex-M7 takes a few hundred ms).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The RNG and the verifier for one connection: embedded-tls's [`CryptoProvider`].
struct PinnedCa<'a, Rng, Clock: TlsClock> {
    rng: Rng,
    verifier: CertVerifier<'a, Aes128GcmSha256, Clock, CHAIN_MAX>,
}

impl<Rng: CryptoRngCore, Clock: TlsClock> CryptoProvider for PinnedCa<'_, Rng, Clock> {
    type CipherSuite = Aes128GcmSha256;
    /// No client certificate is offered, so nothing is ever signed.
    type Signature = [u8; 0];

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut self.rng
    }

    fn verifier(
        &mut self,
    ) -> Result<&mut impl embedded_tls::TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// Both halves of the TCP socket, each behind an async mutex, as one `Copy` stream: embedded-tls's `split` gives
/// a copy to its reader and one to its writer. The reader only reads and the writer only writes, so neither
/// waits for the other's lock.
#[derive(Clone, Copy)]
struct Halves<'r, 'x> {
    rx: &'r Mutex<NoopRawMutex, embassy_net::tcp::TcpReader<'x>>,
    tx: &'r Mutex<NoopRawMutex, embassy_net::tcp::TcpWriter<'x>>,
}

impl ErrorType for Halves<'_, '_> {
    type Error = embassy_net::tcp::Error;
}

impl Read for Halves<'_, '_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.rx.lock().await.read(buf).await
    }
}

impl Write for Halves<'_, '_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.tx.lock().await.write(buf).await
    }

    /// Returns at once, as rill-embassy's `Flush::NoAckWait` does: embassy-net's flush waits for the peer's ACK, and
    /// embedded-tls flushes after every record (see `rill_embassy::Flush` for what that wait costs).
    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// embedded-tls reports the peer's close_notify as `TlsError::ConnectionClosed`; rill expects end of stream as
/// a read of 0 bytes. This reader turns the first into the second, for good. A TCP end without close_notify stays
/// an error (a truncated TLS stream).
struct CloseNotifyIsEof<R> {
    inner: R,
    closed: bool,
}

impl<R: ErrorType<Error = TlsError>> ErrorType for CloseNotifyIsEof<R> {
    type Error = TlsError;
}

impl<R: Read + ErrorType<Error = TlsError>> Read for CloseNotifyIsEof<R> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        if self.closed {
            return Ok(0);
        }
        match self.inner.read(buf).await {
            Err(TlsError::ConnectionClosed) => {
                self.closed = true;
                Ok(0)
            }
            other => other,
        }
    }
}

/// Record buffers lent to one TLS connection (sizes: [`READ_RECORD`], [`WRITE_RECORD`]).
pub struct Records<'b> {
    /// Holds one incoming record while it is decrypted in place.
    pub read: &'b mut [u8],
    /// Where outgoing bytes are gathered and encrypted, one record at a time.
    pub write: &'b mut [u8],
}

/// Connects to `url` (a `wss://` URL with an IPv4 host), runs the TLS 1.3 handshake trusting only the CA
/// certificate `ca_der` (DER), then runs [`crate::client::exchange`]'s exchange over it. `Clock` gives the time
/// for the certificates' validity check ([`NoClock`]: not checked); `rng` supplies the key share and the masking
/// seed.
pub async fn exchange_tls<Clock: TlsClock>(
    stack: Stack<'_>,
    url: &client::Url<'_>,
    ca_der: &[u8],
    mut rng: impl CryptoRngCore,
    records: Records<'_>,
) -> Result<Summary, ClientError> {
    let remote: IpEndpoint = url.remote;
    let mut rx = [0u8; SOCKET_BUF];
    let mut tx = [0u8; SOCKET_BUF];
    let (mut read_buf, mut write_buf, mut message_buf) = ([0u8; WS_BUF], [0u8; WS_BUF], [0u8; 64]);
    let seed = rng.next_u64();
    // The masking keys' seed is apart from the handshake key's, which goes out in the clear.
    let mut mask_seed = [0u8; 32];
    rng.fill_bytes(&mut mask_seed);
    let mut socket = client::open(stack, remote, &mut rx, &mut tx).await?;
    let request = client::request(url.authority, url.path, seed);
    let config = crate::ws::CLIENT_CONFIG;
    let result = async {
        let (rx, tx) = socket.split();
        let (rx, tx) = (Mutex::new(rx), Mutex::new(tx));
        let mut tls = TlsConnection::<_, Aes128GcmSha256>::new(
            Halves { rx: &rx, tx: &tx },
            records.read,
            records.write,
        );
        let tls_config = TlsConfig::new().with_server_name(url.host);
        let provider = PinnedCa {
            rng,
            verifier: CertVerifier::<_, Clock, CHAIN_MAX>::new(Certificate::X509(ca_der)),
        };
        with_timeout(
            TLS_HANDSHAKE_TIMEOUT,
            tls.open(TlsContext::new(&tls_config, provider)),
        )
        .await
        .map_err(|_| ClientError::Unexpected("TLS handshake timed out"))?
        .map_err(ClientError::Tls)?;
        info!("client: TLS 1.3 session open, server certificate verified");

        let (tls_rx, tls_tx) = tls.split();
        let tls_rx = CloseNotifyIsEof {
            inner: tls_rx,
            closed: false,
        };
        // The writer goes to rill as it is: its flush is what encrypts and sends the gathered record, so
        // rill must call it (`Flush::Stream`).
        let config = Config {
            flush: Flush::Stream,
            ..config
        };
        let buffers = (&mut read_buf[..], &mut write_buf[..], &mut message_buf[..]);
        client::connect_and_talk(tls_rx, tls_tx, &request, buffers, &config, mask_seed).await
    }
    .await;
    // The server ends TCP after the close handshake; end ours gracefully, bounded.
    crate::net::close(&mut socket).await;
    result
}
