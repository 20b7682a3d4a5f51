//! TLS on both sides (feature `rustls`), async decisions and the client's view of the response headers.
//! Certificates are made by each test (rcgen): a CA, and a server certificate it signs.

use rill_tokio::tls::rustls::{CertificateError, Error as RustlsError};
use rill_tokio::tls::{
    client_config, roots_from_pem, server_config_from_pem, tls_accept, tls_error, TlsAcceptor,
};
use rill_tokio::{
    accept_tls, accept_tls_with, accept_with_async, connect_tls, connect_tls_with_response,
    ClientOptions, CloseCode, Config, Decision, Error, Listener, Message, MessageKind,
    OwnedRequestInfo,
};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every test finishes within this time or fails.
const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test took too long")
}

/// A CA and a server certificate for `names` signed by it, written as PEM files in a fresh directory.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(names: &[&str]) -> Pki {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(format!("rill-tls-test-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("rill test CA {id}"));
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            server_config_from_pem(self.dir.join("server.pem"), self.dir.join("server.key"))
                .unwrap(),
        )
    }

    fn client(&self) -> Arc<rill_tokio::tls::rustls::ClientConfig> {
        client_config(roots_from_pem(self.dir.join("ca.pem")).unwrap())
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS echo server on a free port; returns its port.
async fn echo_server(acceptor: TlsAcceptor) -> u16 {
    let listener = Listener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let decide = |request: &rill_tokio::Request<'_>| Decision::Accept {
                    protocol: request.protocols().find(|p| *p == "chat").map(String::from),
                    headers: vec![("X-Served-By".into(), "rill over TLS".into())],
                    deflate: true,
                };
                let Ok(mut ws) =
                    accept_tls_with(stream, &acceptor, Config::default(), decide).await
                else {
                    return;
                };
                loop {
                    let reply = match ws.recv().await {
                        Ok(Message::Text(text)) => (MessageKind::Text, text.as_bytes().to_vec()),
                        Ok(Message::Binary(bytes)) => (MessageKind::Binary, bytes.to_vec()),
                        _ => return,
                    };
                    if ws.send(reply.0, &reply.1).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn echo_over_tls_with_the_response_headers_and_a_close_handshake() {
    bounded(async {
        let pki = Pki::new(&["localhost"]);
        let port = echo_server(pki.acceptor()).await;
        let options = ClientOptions {
            protocols: vec!["superchat".into(), "chat".into()],
            ..ClientOptions::default()
        };
        let url = format!("wss://localhost:{port}/echo?x=1");
        let (mut ws, response) =
            connect_tls_with_response(&url, &options, pki.client(), Config::default())
                .await
                .unwrap();
        assert_eq!(ws.protocol(), Some("chat"));
        assert_eq!(response.protocol(), Some("chat"));
        assert_eq!(response.header("x-served-by"), Some("rill over TLS"));
        assert!(response
            .headers()
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-accept")));

        ws.send_text("héllo ✓").await.unwrap();
        match ws.recv().await.unwrap() {
            Message::Text(text) => assert_eq!(text, "héllo ✓"),
            other => panic!("expected text, got {other:?}"),
        }
        // Larger than a TLS record (16 KiB) and than the read buffer: many records each way.
        let big: Vec<u8> = (0..300_000).map(|i| (i * 31 % 251) as u8).collect();
        ws.send_binary(&big).await.unwrap();
        match ws.recv().await.unwrap() {
            Message::Binary(bytes) => assert!(bytes == big.as_slice()),
            other => panic!("expected binary, got {other:?}"),
        }
        ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_with_the_reason() {
    bounded(async {
        let pki = Pki::new(&["localhost"]);
        let port = echo_server(pki.acceptor()).await;
        // The certificate names localhost only; 127.0.0.1 is not in it.
        let error = connect_tls(
            &format!("wss://127.0.0.1:{port}/"),
            pki.client(),
            Config::default(),
        )
        .await
        .err()
        .expect("the handshake must fail");
        let tls = tls_error(&error).expect("a TLS error");
        assert_eq!(tls.peer(), "server 127.0.0.1");
        assert!(
            matches!(
                tls.rustls_error(),
                Some(RustlsError::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("TLS handshake with server 127.0.0.1 failed"),
            "{message}"
        );
        assert!(message.contains("certificate"), "{message}");
    })
    .await;
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    bounded(async {
        let pki = Pki::new(&["localhost"]);
        let other = Pki::new(&["localhost"]);
        let port = echo_server(pki.acceptor()).await;
        let error = connect_tls(
            &format!("wss://localhost:{port}/"),
            other.client(),
            Config::default(),
        )
        .await
        .err()
        .expect("the handshake must fail");
        let tls = tls_error(&error).expect("a TLS error");
        assert!(
            matches!(
                tls.rustls_error(),
                Some(RustlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{error}"
        );
    })
    .await;
}

/// The default roots (webpki-roots, the system's, or both) do not know the test CA.
#[cfg(any(feature = "rustls-webpki-roots", feature = "rustls-native-roots"))]
#[tokio::test]
async fn connect_verifies_wss_against_the_default_roots() {
    bounded(async {
        let pki = Pki::new(&["localhost"]);
        let port = echo_server(pki.acceptor()).await;
        let error = rill_tokio::connect(&format!("wss://localhost:{port}/"), Config::default())
            .await
            .err()
            .expect("the test CA is not a public root");
        let tls = tls_error(&error).expect("a TLS error");
        assert!(
            matches!(
                tls.rustls_error(),
                Some(RustlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{error}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failed_tcp_connect_is_not_a_tls_error() {
    bounded(async {
        let pki = Pki::new(&["localhost"]);
        // A port that was free a moment ago: nothing listens there now.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let error = connect_tls(
            &format!("wss://localhost:{port}/"),
            pki.client(),
            Config::default(),
        )
        .await
        .err()
        .expect("nothing listens");
        assert!(matches!(error, Error::Io(_)), "{error}");
        assert!(tls_error(&error).is_none(), "{error}");
        assert!(error.to_string().contains("TCP connect to"), "{error}");
    })
    .await;
}

#[tokio::test]
async fn connect_tls_refuses_a_ws_url() {
    bounded(async {
        let pki = Pki::new(&["localhost"]);
        let error = connect_tls("ws://localhost:1/", pki.client(), Config::default())
            .await
            .err()
            .unwrap();
        assert!(matches!(error, Error::InvalidUrl(_)), "{error}");
    })
    .await;
}

#[tokio::test]
async fn a_plain_http_client_on_the_tls_port_is_a_tls_error_on_the_server() {
    bounded(async {
        let pki = Pki::new(&["localhost"]);
        let acceptor = pki.acceptor();
        let listener = Listener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            accept_tls(stream, &acceptor, Config::default()).await.err()
        });
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = raw.read_to_end(&mut answer).await;
        let error = server.await.unwrap().expect("the TLS handshake must fail");
        let tls = tls_error(&error).expect("a TLS error");
        assert_eq!(tls.peer(), "client");
        assert!(tls.rustls_error().is_some(), "{error}");
    })
    .await;
}

#[tokio::test]
async fn an_async_decision_sees_the_request_as_owned_data() {
    bounded(async {
        let pki = Pki::new(&["localhost"]);
        let acceptor = pki.acceptor();
        let listener = Listener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel::<OwnedRequestInfo>();
        tokio::spawn(async move {
            let mut seen_tx = Some(seen_tx);
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let config = Config::default();
                let Ok(stream) = tls_accept(stream, &acceptor, &config).await else {
                    continue;
                };
                let seen_tx = seen_tx.take();
                let result =
                    accept_with_async(stream, config, |request: OwnedRequestInfo| async move {
                        // Something that waits, as a database lookup would.
                        tokio::task::yield_now().await;
                        let allowed = request.header("authorization") == Some("Bearer good");
                        if let Some(seen) = seen_tx {
                            let _ = seen.send(request.clone());
                        }
                        if allowed {
                            Decision::Accept {
                                protocol: None,
                                headers: vec![("Set-Cookie".into(), "session=42".into())],
                                deflate: true,
                            }
                        } else {
                            Decision::Reject {
                                status: 401,
                                reason: "bad token".into(),
                            }
                        }
                    })
                    .await;
                if let Ok(mut ws) = result {
                    if let Ok(Message::Text(text)) = ws.recv().await {
                        let reply = text.to_uppercase();
                        let _ = ws.send_text(&reply).await;
                    }
                }
            }
        });

        let url = format!("wss://localhost:{port}/room/7?user=ada");
        let good = ClientOptions {
            origin: Some("https://example.test".into()),
            headers: vec![("Authorization".into(), "Bearer good".into())],
            ..ClientOptions::default()
        };
        let (mut ws, response) =
            connect_tls_with_response(&url, &good, pki.client(), Config::default())
                .await
                .unwrap();
        assert_eq!(response.header("set-cookie"), Some("session=42"));
        let seen = seen_rx.await.unwrap();
        assert_eq!(seen.method(), "GET");
        assert_eq!(seen.path(), "/room/7");
        assert_eq!(seen.query(), Some("user=ada"));
        assert_eq!(seen.target(), "/room/7?user=ada");
        assert_eq!(seen.origin(), Some("https://example.test"));
        assert_eq!(seen.host(), Some(&*format!("localhost:{port}")));
        assert!(seen.is_upgrade());
        assert!(seen
            .headers()
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("sec-websocket-version") && v == "13"));
        ws.send_text("shout").await.unwrap();
        match ws.recv().await.unwrap() {
            Message::Text(text) => assert_eq!(text, "SHOUT"),
            other => panic!("expected text, got {other:?}"),
        }

        let bad = ClientOptions {
            headers: vec![("Authorization".into(), "Bearer bad".into())],
            ..ClientOptions::default()
        };
        match connect_tls_with_response(&url, &bad, pki.client(), Config::default()).await {
            Err(Error::Response(error)) => assert!(error.to_string().contains("401"), "{error}"),
            Err(other) => panic!("expected the 401 answer, got {other}"),
            Ok(_) => panic!("a bad token must be refused"),
        }
    })
    .await;
}
