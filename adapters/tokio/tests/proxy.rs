//! The exchange with a proxy is bounded by the handshake timeout. (Real proxies, tinyproxy and pproxy,
//! are driven by scripts/proxy-test.sh.)

use rill_tokio::{connect_with, proxy_error, ClientOptions, Config, Proxy};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_proxy_that_never_answers_fails_the_connect_at_the_handshake_timeout() {
    // Accepts TCP (the kernel does, from the backlog) and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    for scheme in ["http", "socks5"] {
        let options = ClientOptions {
            proxy: Proxy::Url(format!("{scheme}://{}", silent.local_addr().unwrap())),
            ..ClientOptions::default()
        };
        let config = Config {
            handshake_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let start = Instant::now();
        let outcome = tokio::time::timeout(
            Duration::from_secs(10),
            connect_with("ws://example.com/", &options, config),
        )
        .await
        .expect("bounded by the handshake timeout");
        let Err(error) = outcome else {
            panic!("{scheme}: connected through a silent proxy")
        };
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        let failure = proxy_error(&error).unwrap_or_else(|| panic!("{error}"));
        assert_eq!(failure.proxy(), silent.local_addr().unwrap().to_string());
        assert!(
            failure
                .to_string()
                .contains("no tunnel within the handshake timeout"),
            "{failure}"
        );
    }
}
