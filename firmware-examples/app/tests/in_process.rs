//! The firmware's server and client over real embassy-net stacks, in one process, without root or a TAP: two
//! stacks joined by an in-memory Ethernet "cable" (queues of frames), under `embassy_futures::block_on`.
//!
//! Stack A (10.0.0.1) runs the boards' `app::net::listen` in two listener tasks; stack B (10.0.0.2) is the client
//! side: it fetches the page, runs the board client (`app::client::exchange`: text echo, a 64 KiB binary echo
//! through 2 KiB buffers, ping, close), and reads a whole token stream on `rill-embassy` directly.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Waker};

use embassy_futures::join::join;
use embassy_futures::select::{select3, Either3};
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpEndpoint, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_time::{with_timeout, Duration};
use rill_embassy::{ClientRequest, CloseCode, Error, Message, Reader};
use rill_ws::streams::{Envelope, EnvelopeKind};

/// One direction of the cable: frames in flight and the waker of the stack that receives them.
#[derive(Default)]
struct Wire {
    frames: RefCell<VecDeque<Vec<u8>>>,
    waker: RefCell<Option<Waker>>,
}

impl Wire {
    fn push(&self, frame: Vec<u8>) {
        self.frames.borrow_mut().push_back(frame);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

/// One end of the cable: an Ethernet NIC for embassy-net.
struct Port {
    rx: Rc<Wire>,
    tx: Rc<Wire>,
    mac: [u8; 6],
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a Wire);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        self.0.push(frame);
        result
    }
}

impl Driver for Port {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(Rx, Tx<'_>)> {
        let frame = self.rx.frames.borrow_mut().pop_front();
        match frame {
            Some(frame) => Some((Rx(frame), Tx(&self.tx))),
            None => {
                *self.rx.waker.borrow_mut() = Some(cx.waker().clone());
                None
            }
        }
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<Tx<'_>> {
        Some(Tx(&self.tx))
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = 1514;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}

fn config(last: u8) -> embassy_net::Config {
    embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, last), 24),
        gateway: None,
        dns_servers: Default::default(),
    })
}

const SERVER: IpEndpoint = IpEndpoint::new(
    embassy_net::IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 1)),
    app::HTTP_PORT,
);

#[test]
fn firmware_server_and_client_over_embassy_net() {
    let (a_to_b, b_to_a) = (Rc::new(Wire::default()), Rc::new(Wire::default()));
    let port_a = Port {
        rx: b_to_a.clone(),
        tx: a_to_b.clone(),
        mac: [0x02, 0, 0, 0, 0, 1],
    };
    let port_b = Port {
        rx: a_to_b,
        tx: b_to_a,
        mac: [0x02, 0, 0, 0, 0, 2],
    };
    let mut resources_a = StackResources::<2>::new();
    let mut resources_b = StackResources::<2>::new();
    let (stack_a, mut runner_a) = embassy_net::new(port_a, config(1), &mut resources_a, 1);
    let (stack_b, mut runner_b) = embassy_net::new(port_b, config(2), &mut resources_b, 2);

    let network = join(runner_a.run(), runner_b.run());
    // Two listeners, as on the boards (no backlog): a new connection never races the previous one's close.
    let server = join(app::net::listen(stack_a, 0), app::net::listen(stack_a, 1));
    let clients = with_timeout(Duration::from_secs(60), clients(stack_b));
    match embassy_futures::block_on(select3(network, server, clients)) {
        Either3::Third(result) => result.expect("the clients did not finish within 60 s"),
        _ => unreachable!("the network and the listeners never end"),
    }
}

async fn clients(stack: Stack<'_>) {
    page(stack).await;
    let summary = app::client::exchange(stack, SERVER, "10.0.0.1", "/echo", 0x5EED, [0x5E; 32])
        .await
        .expect("echo exchange");
    assert_eq!(
        summary.echoed,
        app::client::HELLO.len() + app::client::BIG_LEN + "after ping".len()
    );
    assert!(summary.ping_rtt < core::time::Duration::from_secs(1));
    tokens(stack).await;
}

/// `GET /` answers the page from flash with its exact length, then the server ends with FIN.
async fn page(stack: Stack<'_>) {
    let (mut rx, mut tx) = ([0u8; 4096], [0u8; 1024]);
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    socket.connect(SERVER).await.expect("connect");
    socket
        .write(b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) => panic!("page read failed: {e:?}"),
        }
    }
    socket.close();
    socket.flush().await.ok();
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let length = format!("Content-Length: {}\r\n", app::INDEX_HTML.len());
    assert!(response
        .windows(length.len())
        .any(|w| w == length.as_bytes()));
    assert!(response.ends_with(app::INDEX_HTML));
}

/// `/tokens`: every stream complete and in order, each token one envelope, then close 1000 from the server.
async fn tokens(stack: Stack<'_>) {
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 2048]);
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    socket.connect(SERVER).await.expect("connect");
    let (mut read_buf, mut write_buf, mut message_buf) = ([0u8; 1024], [0u8; 512], [0u8; 64]);
    let config = app::ws::CONFIG;
    let request = ClientRequest {
        host: "10.0.0.1",
        path: "/tokens",
        key: *b"in-process test!",
        protocols: &[],
        origin: None,
        headers: &[],
        deflate: None,
    };
    {
        let (r, w) = socket.split();
        let mut shared = None;
        let connected = rill_embassy::connect(
            r,
            w,
            &request,
            &mut read_buf,
            &mut write_buf,
            &mut shared,
            &config,
            [7; 32],
        );
        let (reader, _writer) = connected.await.expect("handshake");
        let mut reader = reader.reassembling(&mut message_buf);
        receive_tokens(&mut reader).await;
    }
    socket.close();
    socket.flush().await.ok();
}

type TokenReader<'s, 'b, 'x> =
    Reader<'s, 'b, NoopRawMutex, embassy_net::tcp::TcpReader<'x>, embassy_net::tcp::TcpWriter<'x>>;

async fn receive_tokens(reader: &mut TokenReader<'_, '_, '_>) {
    let mut next = [0u32; app::STREAMS as usize];
    loop {
        match reader.recv().await.expect("token") {
            Message::Binary(bytes) => {
                let (envelope, payload) = Envelope::decode(bytes).expect("envelope");
                let slot = envelope.stream as usize - 1;
                assert_eq!(envelope.sequence, next[slot], "stream {}", envelope.stream);
                let last = envelope.sequence + 1 == app::TOKENS_PER_STREAM;
                let kind = if last {
                    EnvelopeKind::Last
                } else {
                    EnvelopeKind::Chunk
                };
                assert_eq!(envelope.kind, kind);
                let expected = format!("{:05} ", envelope.sequence);
                assert!(payload.starts_with(expected.as_bytes()));
                next[slot] += 1;
            }
            Message::Close(code, reason) => {
                assert_eq!((code, reason), (Some(CloseCode::NORMAL), "done"));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        next.iter().all(|&n| n == app::TOKENS_PER_STREAM),
        "{next:?}"
    );
    assert!(matches!(reader.recv().await, Err(Error::Closed)));
}
