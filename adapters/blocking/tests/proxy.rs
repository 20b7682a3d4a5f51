//! rill-blocking's client through real proxies (tinyproxy for HTTP CONNECT, pproxy for SOCKS5), which
//! scripts/proxy-test.sh starts and names in `RILL_PROXY_*`, with its echo server in `RILL_ECHO_WS`:
//! `bash scripts/proxy-test.sh` runs these (they are ignored by a plain `cargo test`). The deadline test
//! runs everywhere.

use rill_blocking::{connect_with, proxy_error, ClientOptions, CloseCode, Config, Message, Proxy};
use std::time::Duration;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} unset: run scripts/proxy-test.sh"))
}

fn options(proxy: &str) -> ClientOptions {
    ClientOptions {
        proxy: Proxy::Url(proxy.into()),
        ..ClientOptions::default()
    }
}

fn config() -> Config {
    Config {
        handshake_timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

#[test]
#[ignore = "needs the proxies of scripts/proxy-test.sh"]
fn echoes_through_each_proxy_with_and_without_credentials() {
    let url = var("RILL_ECHO_WS");
    for name in [
        "RILL_PROXY_HTTP",
        "RILL_PROXY_HTTP_AUTH",
        "RILL_PROXY_SOCKS5",
        "RILL_PROXY_SOCKS5_AUTH",
    ] {
        let proxy = var(name);
        let mut ws = connect_with(&url, &options(&proxy), config())
            .unwrap_or_else(|e| panic!("{name} {proxy}: {e}"));
        ws.send_text(name).unwrap();
        match ws.recv().unwrap() {
            Message::Text(text) => assert_eq!(text, name),
            other => panic!("{name}: {other:?}"),
        }
        ws.close(CloseCode::NORMAL, "").unwrap();
    }
}

#[test]
#[ignore = "needs the proxies of scripts/proxy-test.sh"]
fn a_refused_connect_reports_the_proxys_status_line() {
    let url = var("RILL_ECHO_WS");
    let proxy = var("RILL_PROXY_HTTP_AUTH");
    let (scheme, rest) = proxy.split_once("://").unwrap();
    let anonymous = format!("{scheme}://{}", rest.rsplit_once('@').unwrap().1);
    let Err(error) = connect_with(&url, &options(&anonymous), config()) else {
        panic!("the proxy let a client without credentials through");
    };
    let failure = proxy_error(&error).unwrap_or_else(|| panic!("{error}"));
    assert!(failure.tunnel_error().is_some(), "{failure}");
    let message = error.to_string();
    assert!(
        message.contains("407 Proxy Authentication Required"),
        "{message}"
    );
}

#[test]
fn a_proxy_that_never_answers_fails_the_connect_at_the_handshake_timeout() {
    // Accepts TCP (the kernel does, from the backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let config = Config {
        handshake_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    for scheme in ["http", "socks5"] {
        let start = std::time::Instant::now();
        let proxy = format!("{scheme}://{address}");
        let Err(error) = connect_with("ws://example.com/", &options(&proxy), config) else {
            panic!("{scheme}: connected through a silent proxy");
        };
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        let failure = proxy_error(&error).unwrap_or_else(|| panic!("{error}"));
        assert_eq!(failure.proxy(), address);
        assert!(
            failure
                .to_string()
                .contains("no tunnel within the handshake timeout"),
            "{failure}"
        );
    }
}
