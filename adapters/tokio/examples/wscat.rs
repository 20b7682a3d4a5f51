//! A WebSocket client for the terminal: sends each line of standard input as a text message and prints
//! each message received on its own line.
//!
//! `cargo run --release -p rill-tokio --features rustls-webpki-roots --example wscat -- --url wss://host/path`
//!
//! Flags:
//! - `--url URL`: the `ws://` or `wss://` URL to connect to (required);
//! - `--proxy URL`: go through this proxy (`http://[user:password@]host:port` or `socks5://...`); without
//!   it, the one `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` name unless `NO_PROXY` exempts the host (see
//!   docs/client.md);
//! - `--reconnect`: when the connection drops, dial again with backoff (`rill_tokio::reconnect`); lines
//!   typed meanwhile are sent once it is back;
//! - `--header 'K: V'`: an extra request header (repeatable);
//! - `--protocol P`: offer subprotocol P (repeatable);
//! - `--ca PEM`: verify a `wss://` server against the certificates in this PEM file instead of the
//!   built-in roots. There is no flag to skip verification.
//!
//! At the end of standard input it closes with 1000 and exits 0 once the server answers. It exits 0 when
//! the server closes normally (1000, or a close frame without a code) and prints the reason and exits 1
//! on any other end.

use rill_tokio::reconnect::{Reconnect, ReconnectState, RetryPolicy};
use rill_tokio::{
    ClientOptions, CloseCode, Config, Error, MaybeTlsStream, Message, Proxy, WebSocket,
};
use std::process::ExitCode;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The command line.
struct Args {
    url: String,
    options: ClientOptions,
    ca: Option<String>,
    reconnect: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut url, mut ca, mut reconnect) = (None, None, false);
    let mut options = ClientOptions::default();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => url = Some(value()?),
            "--proxy" => options.proxy = Proxy::Url(value()?),
            "--reconnect" => reconnect = true,
            "--header" => {
                let header = value()?;
                let (name, value) = header
                    .split_once(':')
                    .ok_or(format!("--header {header:?}: expected 'Name: value'"))?;
                options
                    .headers
                    .push((name.trim().to_string(), value.trim().to_string()));
            }
            "--protocol" => options.protocols.push(value()?),
            "--ca" => ca = Some(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let url = url.ok_or("--url URL is required")?;
    Ok(Args {
        url,
        options,
        ca,
        reconnect,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            eprintln!("wscat: {why}");
            eprintln!(
                "usage: wscat --url URL [--proxy URL] [--reconnect] [--header 'K: V']... \
                 [--protocol P]... [--ca PEM]"
            );
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("wscat: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Connects once (or keeps reconnecting with `--reconnect`) and relays until the end.
async fn run(args: Args) -> Result<(), String> {
    let tls = match &args.ca {
        Some(path) => {
            let roots = rill_tokio::tls::roots_from_pem(path).map_err(|e| format!("--ca: {e}"))?;
            Some(rill_tokio::tls::client_config(roots))
        }
        None => None,
    };
    let connect = move || {
        let (url, options, tls) = (args.url.clone(), args.options.clone(), tls.clone());
        async move {
            let config = Config::default();
            match tls {
                Some(tls) if url.starts_with("wss://") => {
                    let opened =
                        rill_tokio::connect_tls_with_response(&url, &options, tls, config).await?;
                    Ok(opened.0)
                }
                _ => rill_tokio::connect_with(&url, &options, config).await,
            }
        }
    };
    let (lines_in, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let mut stdin = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            if lines_in.send(line).await.is_err() {
                return;
            }
        }
        // Dropping the sender ends `lines`: the end of input.
    });
    // Without --reconnect: one dial, and the first failure is the end.
    let policy = RetryPolicy {
        max_attempts: (!args.reconnect).then_some(1),
        ..RetryPolicy::default()
    };
    let mut client = Reconnect::new(policy, connect);
    let mut state = client.state();
    tokio::spawn(async move {
        while state.changed().await.is_ok() {
            if let ReconnectState::Retrying { delay, .. } = &*state.borrow() {
                eprintln!("wscat: reconnecting in {} ms", delay.as_millis());
            }
        }
    });
    let mut input_open = true;
    loop {
        let ws = client.connect().await.map_err(|e| describe(&e))?;
        let (code, reason) = match relay(ws, &mut lines, &mut input_open).await {
            Ok(Some((code, reason))) => (code, reason),
            Ok(None) => return Ok(()), // the connection ended after our close
            Err(error) if args.reconnect => {
                eprintln!("wscat: connection lost: {}", describe(&error));
                client.closed(None);
                continue;
            }
            Err(error) => return Err(describe(&error)),
        };
        if args.reconnect && client.closed(code) {
            eprintln!("wscat: server closed with {code:?} {reason:?}");
            continue;
        }
        return match code {
            None | Some(CloseCode::NORMAL) => Ok(()),
            Some(code) => Err(format!("server closed with {} {reason:?}", code.0)),
        };
    }
}

/// Relays stdin lines out and messages in until the server's close frame (its code and reason), or the
/// end of the connection after ours (`None`). Closes with 1000 once the input has ended.
async fn relay(
    ws: WebSocket<MaybeTlsStream>,
    lines: &mut tokio::sync::mpsc::Receiver<String>,
    input_open: &mut bool,
) -> Result<Option<(Option<CloseCode>, String)>, Error> {
    let (mut reader, mut writer) = ws.split();
    if !*input_open {
        writer.send_close(CloseCode::NORMAL, "").await?;
    }
    loop {
        tokio::select! {
            line = lines.recv(), if *input_open => match line {
                Some(line) => writer.send_text(&line).await?,
                None => {
                    *input_open = false;
                    writer.send_close(CloseCode::NORMAL, "").await?;
                }
            },
            message = reader.recv() => match message {
                Ok(Message::Text(text)) => println!("{text}"),
                Ok(Message::Binary(bytes)) => println!("{}", String::from_utf8_lossy(bytes)),
                Ok(Message::Close(code, reason)) => return Ok(Some((code, reason.to_string()))),
                Err(Error::Closed) => return Ok(None),
                Err(error) => return Err(error),
            },
        }
    }
}

/// The error's message; an I/O error's own (a proxy's refusal, a TLS failure) rather than its `Debug`.
fn describe(error: &Error) -> String {
    match error {
        Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}
