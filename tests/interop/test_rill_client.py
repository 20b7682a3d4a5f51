"""rill as a client (the `interop_client` example) against a Python `websockets` server, and against a raw
Python server that misbehaves on purpose. The client prints one JSON line; the tests assert on it and on
what the server saw."""

import asyncio
import base64
import hashlib
import json
import socket
import struct
import subprocess
import threading

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from conftest import (
    GUID,
    IO_TIMEOUT,
    MIB,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    decode_frames,
    encode_frame,
    pattern,
    read_head,
    read_until_eof,
)

TEXT = "Hello from rill: ünïcødé ✓ 🦀"
FRAGMENTED_TEXT_PARTS = ["Fragmented ", "ünïcødé ", "✓ 🦀", " end"]
CHUNK = 64 * 1024
SERVER_PROTOCOLS = ["superchat", "chat"]


class PythonServer:
    """A websockets server on its own event loop thread; each connection's record lands in `records`."""

    def __init__(self):
        self.records = {}
        self.finished = {}
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def pick(connection, offered):
            return next((p for p in SERVER_PROTOCOLS if p in offered), None)

        async def main():
            self.stop = asyncio.Event()
            async with serve(
                self.handler, "127.0.0.1", 0, max_size=None, select_subprotocol=pick, close_timeout=10
            ) as server:
                self.port = server.sockets[0].getsockname()[1]
                started.set()
                await self.stop.wait()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self.thread.start()
        assert started.wait(10), "the Python server did not start"

    def url(self, name):
        return f"ws://127.0.0.1:{self.port}/{name}"

    def record(self, name):
        """What the handler for `name` saw, once it has finished (the client may exit before it does)."""
        finished = self.finished.setdefault(name, threading.Event())
        assert finished.wait(IO_TIMEOUT), f"the Python handler for {name} did not finish"
        return self.records[name]

    def shutdown(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)

    async def handler(self, ws):
        name = ws.request.path.strip("/")
        record = self.records[name] = {"subprotocol": ws.subprotocol, "received": [], "events": []}
        finished = self.finished.setdefault(name, threading.Event())
        try:
            while True:
                message = await ws.recv()
                record["received"].append(message)
                if message == "fragments":
                    await self.send_fragments(ws, record)
                elif message == "close-me":
                    await ws.close(1001, "server going away")
                    break
                else:
                    await ws.send(message)
        except ConnectionClosed as closed:
            record["error"] = repr(closed)
        record["close_rcvd"] = (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason) if ws.protocol.close_rcvd else None
        record["close_sent"] = (ws.protocol.close_sent.code, ws.protocol.close_sent.reason) if ws.protocol.close_sent else None
        record["rcvd_then_sent"] = ws.protocol.close_rcvd_then_sent
        finished.set()

    async def send_fragments(self, ws, record):
        # A text in fragments, with a ping between them: rill must answer it while the message is open.
        async def text():
            yield FRAGMENTED_TEXT_PARTS[0]
            pong = await ws.ping(b"python mid-message ping")
            record["mid_message_pong_latency"] = await asyncio.wait_for(pong, IO_TIMEOUT)
            for part in FRAGMENTED_TEXT_PARTS[1:]:
                yield part

        await ws.send(text())

        # 1 MiB of binary in 16 fragments, left open after the 8th until rill has pinged us (websockets
        # answers on its own) and sent "resume".
        resumed = asyncio.Event()

        async def wait_resume():
            message = await ws.recv()
            record["received"].append(message)
            assert message == "resume"
            resumed.set()

        resume_task = asyncio.create_task(wait_resume())
        big = pattern(MIB)

        async def binary():
            for i in range(0, MIB, CHUNK):
                if i == MIB // 2:
                    await asyncio.wait_for(resumed.wait(), IO_TIMEOUT)
                    record["events"].append("resumed mid-message")
                yield big[i : i + CHUNK]

        await ws.send(binary())
        await resume_task


@pytest.fixture(scope="module")
def pyserver():
    server = PythonServer()
    yield server
    server.shutdown()


def run_client(client_bin, *args):
    done = subprocess.run([client_bin, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return json.loads(lines[0])


@pytest.mark.parametrize(
    "offered,chosen",
    [(None, None), ("chat", "chat"), ("chat,superchat", "superchat"), ("other", None)],
)
@pytest.mark.parametrize("code,reason", [(1000, "done"), (4001, "custom ✓")])
def test_scripted_exchange(offered, chosen, code, reason, client_bin, pyserver):
    name = f"script-{offered}-{code}"
    args = ["--url", pyserver.url(name), "--close-code", str(code), "--close-reason", reason]
    if offered:
        args += ["--protocols", offered]
    result = run_client(client_bin, *args)
    record = pyserver.record(name)

    assert "error" not in result, result
    assert result["protocol"] == chosen
    assert record["subprotocol"] == chosen
    for key in ["text_echo", "binary_echo", "chunked_binary_echo", "chunked_text_echo"]:
        assert result[key] is True, (key, result)
    assert result["fragmented_text"] is True, result
    assert result["fragmented_binary"] is True, result
    assert result["rtt_mid_message_us"] >= 0 and result["rtt_us"] >= 0

    # What the Python server received, independently of the echoes.
    received = record["received"]
    assert received[0] == TEXT
    assert received[1] == bytes(range(256))
    assert received[2] == pattern(MIB)
    assert received[3] == TEXT
    assert received[4:] == ["fragments", "resume"]
    assert record["mid_message_pong_latency"] >= 0
    assert record["events"] == ["resumed mid-message"]

    # The close handshake, seen from both ends.
    assert record["close_rcvd"] == (code, reason)
    assert record["close_sent"][0] == code  # websockets echoes the code
    assert record["rcvd_then_sent"] is True
    assert result["close_code"] == code


def test_server_initiated_close(client_bin, pyserver):
    result = run_client(client_bin, "--url", pyserver.url("await-close"), "--mode", "await-close")
    record = pyserver.record("await-close")
    assert "error" not in result, result
    assert result["close_code"] == 1001
    assert result["close_reason"] == "server going away"
    assert record["received"] == ["close-me"]
    assert record["close_sent"] == (1001, "server going away")
    assert record["close_rcvd"] is not None, "rill did not answer the server's close"
    assert record["close_rcvd"][0] == 1001  # rill echoes the code
    assert record["rcvd_then_sent"] is False


class RawServer:
    """Accepts one connection, answers the handshake (or not), sends `after` raw, then records everything
    the client sends until it ends the connection."""

    def __init__(self, after: bytes, response=None):
        self.after = after
        self.response = response
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = None
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.listener.settimeout(IO_TIMEOUT)
        conn, _ = self.listener.accept()
        with conn:
            head, rest = read_head(conn)
            key = next(
                line.split(":", 1)[1].strip()
                for line in head.decode().split("\r\n")
                if line.lower().startswith("sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            response = self.response or (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            conn.sendall(response.format(accept=accept).encode() + self.after)
            self.received, self.clean_eof = read_until_eof(conn, rest)
        self.listener.close()

    def frames(self):
        self.thread.join(IO_TIMEOUT)
        frames, left = decode_frames(self.received)
        assert left == b""
        return frames


SERVER_FAULTS = [
    ("masked-server-frame", encode_frame(OP_TEXT, b"masked", mask=True), 1002),
    ("reserved-opcode", encode_frame(0x3, b"", mask=False), 1002),
    ("rsv1-set", encode_frame(OP_TEXT, b"x", rsv=4, mask=False), 1002),
    ("invalid-utf8", encode_frame(OP_TEXT, b"\xff\xfe", mask=False), 1007),
    ("invalid-close-code", encode_frame(OP_CLOSE, struct.pack("!H", 1005), mask=False), 1002),
    ("ping-too-long", encode_frame(OP_PING, b"p" * 126, mask=False), 1002),
    ("binary-over-limit", encode_frame(OP_BINARY, b"", mask=False, length=1 << 40), 1009),
]


@pytest.mark.parametrize("name,after,code", SERVER_FAULTS, ids=[f[0] for f in SERVER_FAULTS])
def test_rill_client_closes_on_server_fault(name, after, code, client_bin):
    server = RawServer(after)
    result = run_client(client_bin, "--url", f"ws://127.0.0.1:{server.port}/", "--mode", "listen")
    frames = server.frames()
    assert f"closed with {code}" in result.get("error", ""), result
    assert len(frames) == 1, frames
    close = frames[0]
    assert close.opcode == OP_CLOSE and close.fin and close.masked, close
    assert close.close_code == code


def test_rill_client_answers_ping_and_close_from_raw_server(client_bin):
    """A ping and a close with a reason: the pong must carry the ping's payload, the close reply the code."""
    after = encode_frame(OP_PING, b"raw ping", mask=False) + encode_frame(
        OP_CLOSE, struct.pack("!H", 4002) + b"raw bye", mask=False
    )
    server = RawServer(after)
    result = run_client(client_bin, "--url", f"ws://127.0.0.1:{server.port}/", "--mode", "listen")
    frames = server.frames()
    assert "error" not in result, result
    assert result["close_code"] == 4002 and result["close_reason"] == "raw bye"
    assert [(f.opcode, f.masked) for f in frames] == [(0xA, True), (OP_CLOSE, True)], frames
    assert frames[0].payload == b"raw ping"
    assert frames[1].close_code == 4002


@pytest.mark.parametrize(
    "name,response",
    [
        (
            "wrong-accept",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
        ),
        (
            "protocol-not-offered",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: bogus\r\n\r\n",
        ),
        ("status-400", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    ],
)
def test_rill_client_rejects_bad_handshake_response(name, response, client_bin):
    server = RawServer(b"", response=response)
    result = run_client(client_bin, "--url", f"ws://127.0.0.1:{server.port}/", "--mode", "listen")
    server.thread.join(IO_TIMEOUT)
    assert result.get("error", "").startswith("connect: bad handshake response"), result
    assert server.received == b"", "rill sent frames after a bad handshake"
