"""Shared fixtures and raw-wire helpers for the interop tests.

scripts/interop.sh starts two rill echo servers and passes them in the environment:

- RILL_ECHO_URL: `echo_server --addr ...` with its default behaviour;
- RILL_ECHO_SMALL_URL: `echo_server --max-message 65536 --protocols chat,superchat --close-on close-me`;
- RILL_INTEROP_CLIENT: the path of the built `interop_client` example.
"""

import base64
import hashlib
import os
import socket
import struct
import urllib.parse

import pytest

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MIB = 1 << 20
SMALL_LIMIT = 65536
IO_TIMEOUT = 10.0

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def pattern(length: int) -> bytes:
    """The bytes of the large test messages, the same as in interop_client.rs."""
    return bytes((i * 31 + 7) % 251 for i in range(length))


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests through scripts/interop.sh")
    return value


@pytest.fixture(scope="session")
def echo_url() -> str:
    return _env("RILL_ECHO_URL")


@pytest.fixture(scope="session")
def small_url() -> str:
    return _env("RILL_ECHO_SMALL_URL")


@pytest.fixture(scope="session")
def client_bin() -> str:
    return _env("RILL_INTEROP_CLIENT")


def host_port(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    return parsed.hostname, parsed.port


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def encode_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    key: bytes = b"\x37\xfa\x21\x3d",
    length: int | None = None,
) -> bytes:
    """One frame as a client (mask=True) or a server (mask=False) would write it. `length` overrides the
    declared payload length (to send only a header that announces a large payload)."""
    declared = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if mask else 0
    if declared < 126:
        head += bytes([mask_bit | declared])
    elif declared < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", declared)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", declared)
    if not mask:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        assert self.opcode == OP_CLOSE, self
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        body = self.payload if len(self.payload) <= 64 else self.payload[:64] + b"..."
        return f"Frame(fin={self.fin}, rsv={self.rsv}, opcode={self.opcode:#x}, masked={self.masked}, {body!r})"


def decode_frames(data: bytes) -> tuple[list[Frame], bytes]:
    """Every complete frame in `data`, and the bytes left over."""
    frames = []
    pos = 0
    while True:
        if len(data) - pos < 2:
            break
        b0, b1 = data[pos], data[pos + 1]
        length = b1 & 0x7F
        at = pos + 2
        if length == 126:
            if len(data) - at < 2:
                break
            length = struct.unpack("!H", data[at : at + 2])[0]
            at += 2
        elif length == 127:
            if len(data) - at < 8:
                break
            length = struct.unpack("!Q", data[at : at + 8])[0]
            at += 8
        masked = bool(b1 & 0x80)
        key = b""
        if masked:
            if len(data) - at < 4:
                break
            key = data[at : at + 4]
            at += 4
        if len(data) - at < length:
            break
        payload = data[at : at + length]
        if masked:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        frames.append(Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, masked, payload))
        pos = at + length
    return frames, data[pos:]


def read_until_eof(sock: socket.socket, already: bytes = b"") -> tuple[bytes, bool]:
    """Everything the peer sends until it ends the connection; the flag says whether it ended with a FIN
    (True) or a reset (False)."""
    data = bytearray(already)
    sock.settimeout(IO_TIMEOUT)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(data), True
            data += chunk
    except ConnectionResetError:
        return bytes(data), False


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """An HTTP head (up to and including the blank line) and the bytes that followed it."""
    data = b""
    sock.settimeout(IO_TIMEOUT)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, sep, rest = data.partition(b"\r\n\r\n")
    return head + sep, rest


def parse_response(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def upgrade_request(host: str, port: int, extra: str = "", key: str = KEY, version: str = "13") -> bytes:
    return (
        f"GET /chat HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    ).encode()


class RawClient:
    """A client that writes bytes exactly as given, after a valid opening handshake."""

    def __init__(self, url: str, extra_headers: str = ""):
        host, port = host_port(url)
        self.sock = socket.create_connection((host, port), timeout=IO_TIMEOUT)
        self.sock.sendall(upgrade_request(host, port, extra_headers))
        head, self.rest = read_head(self.sock)
        status, headers = parse_response(head)
        assert status == 101, head
        assert headers["sec-websocket-accept"] == accept_key(KEY), head
        self.headers = headers

    def send(self, data: bytes):
        self.sock.sendall(data)

    def frames_until_eof(self) -> tuple[list[Frame], bool, bytes]:
        data, fin = read_until_eof(self.sock, self.rest)
        frames, left = decode_frames(data)
        return frames, fin, left

    def close(self):
        self.sock.close()
