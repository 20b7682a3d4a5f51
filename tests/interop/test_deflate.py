"""permessage-deflate (RFC 7692) with Python `websockets`, both ways (issue #11).

- websockets as a client of rill's echo_server (deflate on by default): seeded random text and binary messages
  (0..200 KiB) echoed byte for byte, with the window bits 9..15 each way and context takeover on and off as
  websockets' `ClientPerMessageDeflateFactory` offers them; the agreed extension checked in the response and
  in websockets' own agreement;
- a raw client that compresses by hand (zlib), to see RSV1 and compressed bytes on the wire both ways;
- echo_server with `--no-deflate`: no `Sec-WebSocket-Extensions`, messages still echo;
- the rill-tokio client (`wsdeflate`, benches/src/bin/wsdeflate.rs, and the scripted `interop_client`)
  against a websockets server with compression: its defaults, and `server_max_window_bits=10` with
  `server_no_context_takeover`; the agreement checked from the server's side.
"""

import asyncio
import json
import random
import subprocess
import threading
import zlib

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

from conftest import IO_TIMEOUT, OP_TEXT, RawClient, _env, decode_frames, encode_frame
from test_rill_client import PythonServer, run_client

MAX_SIZE = 200 * 1024
COUNT = 30
WORDS = ["the", "token", "stream", "deflate", "window", "ünïcødé", "✓", "🦀", "rill", "context", "answer"]


@pytest.fixture(scope="session")
def nodeflate_url() -> str:
    return _env("RILL_ECHO_NODEFLATE_URL")


@pytest.fixture(scope="session")
def deflate_client() -> str:
    return _env("RILL_DEFLATE_CLIENT")


def random_messages(seed: int, count: int = COUNT, max_size: int = MAX_SIZE) -> list:
    """Text (words and any code points: 1 to 4 UTF-8 bytes) and binary (compressible or random), sizes
    0..max_size with many small ones."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        r = rng.random()
        size = 0 if r < 0.1 else rng.randrange(200) if r < 0.5 else rng.randrange(16384) if r < 0.8 else rng.randrange(max_size + 1)
        if rng.random() < 0.5:
            parts, length = [], 0
            while length < size:
                if rng.random() < 0.7:
                    part = rng.choice(WORDS) + " "
                else:
                    cp = rng.randrange(0x110000)
                    part = chr(cp if not 0xD800 <= cp <= 0xDFFF else 0x41)
                parts.append(part)
                length += len(part.encode())
            out.append("".join(parts))
        elif rng.random() < 0.5:
            out.append(bytes((i * 31 + rng.randrange(4)) & 0xFF for i in range(size)))
        else:
            out.append(rng.randbytes(size))
    return out


def run(coro, limit=45):
    return asyncio.run(asyncio.wait_for(coro, limit))


async def echo_all(ws, messages):
    for index, message in enumerate(messages):
        await ws.send(message)
        echo = await ws.recv()
        assert type(echo) is type(message), index
        assert echo == message, f"message {index} ({len(message)} {type(message).__name__}) differs"


# (id, ClientPerMessageDeflateFactory kwargs). The server (Config::default()) inflates with 15 bits and
# compresses with 12, so it agrees server_max_window_bits = min(offer, 12).
CLIENT_OFFERS = (
    [("default", None)]
    + [(f"client_bits_{b}", dict(client_max_window_bits=b)) for b in range(9, 16)]
    + [(f"server_bits_{b}", dict(server_max_window_bits=b)) for b in range(9, 16)]
    + [
        (f"takeover_s{int(s)}_c{int(c)}", dict(server_no_context_takeover=s, client_no_context_takeover=c))
        for s in (False, True)
        for c in (False, True)
    ]
    + [
        (f"both_bits_{b}_no_takeover", dict(client_max_window_bits=b, server_max_window_bits=b, server_no_context_takeover=True, client_no_context_takeover=True))
        for b in (9, 11, 13, 15)
    ]
)


@pytest.mark.parametrize("offer", [o[1] for o in CLIENT_OFFERS], ids=[o[0] for o in CLIENT_OFFERS])
def test_websockets_client_deflate_echo(offer, echo_url):
    extensions = None if offer is None else [ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}, **offer)]
    seed = zlib.crc32(json.dumps(offer, sort_keys=True).encode())  # stable across runs
    messages = random_messages(seed)

    async def main():
        async with connect(echo_url, extensions=extensions, max_size=None, open_timeout=10, close_timeout=10) as ws:
            header = ws.response.headers.get("Sec-WebSocket-Extensions")
            assert header is not None and "permessage-deflate" in header, header
            agreed = [e for e in ws.protocol.extensions if isinstance(e, PerMessageDeflate)]
            assert len(agreed) == 1, ws.protocol.extensions
            pmd = agreed[0]
            offer_ = offer or {}
            # What the client compresses with (local) and inflates with (remote), as agreed.
            assert pmd.local_max_window_bits == (offer_.get("client_max_window_bits") or 15), header
            assert pmd.remote_max_window_bits == min(offer_.get("server_max_window_bits") or 15, 12), header
            assert pmd.local_no_context_takeover == offer_.get("client_no_context_takeover", False), header
            assert pmd.remote_no_context_takeover == offer_.get("server_no_context_takeover", False), header
            await echo_all(ws, messages)

    run(main())


def test_websockets_client_without_deflate_on_a_deflate_server(echo_url):
    async def main():
        async with connect(echo_url, compression=None, max_size=None, open_timeout=10) as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await echo_all(ws, random_messages(3, count=10))

    run(main())


def test_no_deflate_server_declines_and_echoes(nodeflate_url):
    async def main():
        async with connect(nodeflate_url, max_size=None, open_timeout=10) as ws:  # offers deflate (default)
            assert "Sec-WebSocket-Extensions" not in ws.response.headers, ws.response.headers
            assert ws.protocol.extensions == []
            await echo_all(ws, random_messages(5, count=20))

    run(main())


# The bytes on the wire: a raw client that offers deflate and compresses by hand.
TEXT = ("the token stream deflates well because the token stream repeats itself. " * 40).encode()


def deflate_raw(data: bytes, wbits: int = 15) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate_raw(data: bytes, inflater=None) -> bytes:
    inflater = inflater or zlib.decompressobj(-15)
    return inflater.decompress(data + b"\x00\x00\xff\xff")


def read_messages(client, want):
    """`want` whole messages as (first frame, payload of all its frames): the echo server streams a message
    back in as many frames as it arrived in pieces."""
    data = client.rest
    client.sock.settimeout(IO_TIMEOUT)
    while True:
        frames, _ = decode_frames(data)
        messages, current = [], None
        for frame in frames:
            if current is None:
                current = (frame, bytearray())
            else:
                assert frame.opcode == 0 and frame.rsv == 0, frame  # continuation: RSV1 only on the first
            current[1].extend(frame.payload)
            if frame.fin:
                messages.append((current[0], bytes(current[1])))
                current = None
        if len(messages) >= want:
            return messages
        chunk = client.sock.recv(65536)
        assert chunk, f"connection ended after {frames}"
        data += chunk


def test_compressed_on_the_wire_both_ways(echo_url):
    client = RawClient(echo_url, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    try:
        assert client.headers.get("sec-websocket-extensions") == "permessage-deflate; server_max_window_bits=12", client.headers
        compressed = deflate_raw(TEXT)
        assert len(compressed) < len(TEXT) // 10
        # 1. a compressed text (RSV1) and 2. the same text uncompressed: both echoed compressed, and the
        # second echo smaller than the first (the server keeps its context).
        client.send(encode_frame(OP_TEXT, compressed, rsv=4) + encode_frame(OP_TEXT, TEXT))
        messages = read_messages(client, 2)
        inflater = zlib.decompressobj(-15)
        for first, payload in messages[:2]:
            assert first.rsv == 4 and first.opcode == OP_TEXT and not first.masked, first
            assert inflate_raw(payload, inflater) == TEXT
        sizes = [len(payload) for _, payload in messages[:2]]
        assert sizes[0] < len(TEXT) // 5 and sizes[1] < sizes[0], sizes
    finally:
        client.close()


def test_server_window_12_is_respected(echo_url):
    """The server compresses with 12 bits as it announced: a 4 KiB+1 back-reference never appears, so an
    inflater limited to 12 bits must inflate what it sends."""
    client = RawClient(echo_url, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    try:
        block = random.Random(1).randbytes(3000)
        message = block + random.Random(2).randbytes(2000) + block  # a repeat 5000 bytes back
        client.send(encode_frame(0x2, message))
        [(first, payload)] = read_messages(client, 1)
        assert first.rsv == 4 and first.opcode == 0x2, first
        assert inflate_raw(payload, zlib.decompressobj(-12)) == message
    finally:
        client.close()


# The rill-tokio client against websockets servers with compression.
SERVER_VARIANTS = {
    "websockets-defaults": None,  # enable_server_permessage_deflate: server and client windows 12, memLevel 5
    "server-bits-10-no-takeover": [
        ServerPerMessageDeflateFactory(
            server_max_window_bits=10,
            server_no_context_takeover=True,
            client_max_window_bits=12,
            compress_settings={"memLevel": 5},
        )
    ],
}


class DeflateServer(PythonServer):
    """test_rill_client's scripted server (echo, fragments, close), with the given extensions; each
    connection's agreement is recorded from the server's side."""

    def __init__(self, extensions):
        self.records = {}
        self.finished = {}
        self.agreements = {}
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        async def main():
            self.stop = asyncio.Event()
            async with serve(self.recording_handler, "127.0.0.1", 0, max_size=None, extensions=extensions, close_timeout=10) as server:
                self.port = server.sockets[0].getsockname()[1]
                started.set()
                await self.stop.wait()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self.thread.start()
        assert started.wait(10), "the Python server did not start"

    async def recording_handler(self, ws):
        name = ws.request.path.strip("/")
        agreement = {
            "offer": ws.request.headers.get("Sec-WebSocket-Extensions"),
            "answer": ws.response.headers.get("Sec-WebSocket-Extensions"),
            "extensions": [repr(e) for e in ws.protocol.extensions],
        }
        self.agreements[name] = agreement  # before the handler: it signals `finished` when it ends
        await self.handler(ws)


@pytest.fixture(scope="module", params=list(SERVER_VARIANTS), ids=list(SERVER_VARIANTS))
def deflate_server(request):
    server = DeflateServer(SERVER_VARIANTS[request.param])
    server.variant = request.param
    yield server
    server.shutdown()


def run_deflate_client(binary, *args):
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and len(lines) == 1, done.stdout + done.stderr
    return json.loads(lines[0])


def check_server_agreement(server, name):
    server.record(name)  # waits for the handler to finish
    agreement = server.agreements[name]
    assert agreement["answer"] and "permessage-deflate" in agreement["answer"], agreement
    assert any("PerMessageDeflate" in e for e in agreement["extensions"]), agreement
    if server.variant == "server-bits-10-no-takeover":
        assert "server_max_window_bits=10" in agreement["answer"], agreement
        assert "server_no_context_takeover" in agreement["answer"], agreement
    return agreement


CLIENT_FLAGS = {
    "rill-defaults": [],
    "rill-no-takeover-window-10": ["--send-no-context-takeover", "--send-window-bits", "10", "--receive-window-bits", "10", "--ask-no-context-takeover"],
}


@pytest.mark.parametrize("flags", list(CLIENT_FLAGS.values()), ids=list(CLIENT_FLAGS))
def test_rill_client_random_echo_with_websockets_server(flags, deflate_client, deflate_server):
    name = f"random-{deflate_server.variant}-{len(flags)}"
    result = run_deflate_client(deflate_client, "--url", deflate_server.url(name), "--mode", "echo", "--seed", "21", "--count", "40", *flags)
    assert result["agreed"] is True, result
    assert "permessage-deflate" in result["answer"], result
    record = deflate_server.record(name)
    assert len(record["received"]) == 40, len(record["received"])
    agreement = check_server_agreement(deflate_server, name)
    if flags:
        assert "server_max_window_bits=10" in agreement["answer"] and "client_no_context_takeover" in agreement["answer"], agreement
    # compression happened: fewer bytes on the wire than payload, both ways (half the messages compress)
    assert result["wire_written"] < result["payload_bytes"] and result["wire_read"] < result["payload_bytes"], result


def test_rill_scripted_client_with_websockets_deflate_server(client_bin, deflate_server):
    """interop_client's script (1 MiB messages in chunks, fragmented messages with pings between them, close
    handshake) with compression agreed."""
    name = f"script-{deflate_server.variant}"
    result = run_client(client_bin, "--url", deflate_server.url(name), "--close-code", "1000", "--close-reason", "done")
    assert "error" not in result, result
    for key in ["text_echo", "binary_echo", "chunked_binary_echo", "chunked_text_echo", "fragmented_text", "fragmented_binary"]:
        assert result[key] is True, (key, result)
    record = deflate_server.record(name)
    assert record["close_rcvd"] == (1000, "done")
    check_server_agreement(deflate_server, name)


@pytest.mark.parametrize(
    "offer,answer,bits,takeover",
    [
        # 8 bits agreed: zlib cannot compress with a 256-byte window, so the server sends uncompressed.
        ("server_max_window_bits=8; client_max_window_bits=8", "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8", None, True),
        ("server_max_window_bits=9; client_max_window_bits=9", "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9", 9, True),
        ("server_no_context_takeover; client_max_window_bits", "permessage-deflate; server_no_context_takeover; server_max_window_bits=12", 12, False),
    ],
    ids=["server-bits-8-uncompressed", "server-bits-9", "server-no-context-takeover"],
)
def test_server_keeps_the_agreed_window_and_takeover_on_the_wire(offer, answer, bits, takeover, echo_url):
    client = RawClient(echo_url, f"Sec-WebSocket-Extensions: permessage-deflate; {offer}\r\n")
    try:
        assert client.headers.get("sec-websocket-extensions") == answer, client.headers
        client.send(encode_frame(OP_TEXT, TEXT) * 3)
        messages = read_messages(client, 3)
        if bits is None:
            assert [(first.rsv, payload) for first, payload in messages] == [(0, TEXT)] * 3
            return
        shared = zlib.decompressobj(-bits)
        for index, (first, payload) in enumerate(messages):
            assert first.rsv == 4, first
            # With context takeover the messages inflate in sequence with one inflater of the agreed window;
            # without it, each one alone with a fresh inflater.
            inflater = shared if takeover else zlib.decompressobj(-bits)
            assert inflate_raw(payload, inflater) == TEXT, index
        sizes = [len(payload) for _, payload in messages]
        assert (sizes[1] < sizes[0]) == takeover, sizes
    finally:
        client.close()
