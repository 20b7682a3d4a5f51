"""Frames no well-behaved client library will send, written raw after a valid handshake: rill's echo server
must answer each with one close frame carrying the right code (RFC 6455 sections 5, 7.4.1, 8.1), then end the
TCP connection itself (section 7.1.1: the server closes first)."""

import struct

import pytest

from conftest import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    SMALL_LIMIT,
    RawClient,
    decode_frames,
    encode_frame,
    read_until_eof,
)

F = encode_frame

CASES = [
    # (id, server, bytes sent, echoed payload expected before the close, close code)
    ("unmasked-client-frame", "echo", F(OP_TEXT, b"hi", mask=False), b"", 1002),
    ("reserved-data-opcode-3", "echo", F(0x3, b"x"), b"", 1002),
    ("reserved-data-opcode-7", "echo", F(0x7, b""), b"", 1002),
    ("reserved-control-opcode-B", "echo", F(0xB, b""), b"", 1002),
    ("rsv1-without-extension", "echo", F(OP_TEXT, b"hi", rsv=4), b"", 1002),
    ("rsv3-without-extension", "echo", F(OP_BINARY, b"hi", rsv=1), b"", 1002),
    ("continuation-without-start", "echo", F(OP_CONT, b"x"), b"", 1002),
    (
        "text-inside-fragmented-message",
        "echo",
        F(OP_TEXT, b"ab", fin=False) + F(OP_TEXT, b"cd"),
        b"ab",
        1002,
    ),
    ("fragmented-ping", "echo", F(OP_PING, b"x", fin=False), b"", 1002),
    ("ping-payload-126-bytes", "echo", F(OP_PING, b"p" * 126), b"", 1002),
    ("close-payload-one-byte", "echo", F(OP_CLOSE, b"\x03"), b"", 1002),
    ("64-bit-length-with-msb-set", "echo", F(OP_BINARY, b"", length=1 << 63), b"", 1002),
    ("invalid-utf8-byte", "echo", F(OP_TEXT, b"\xff"), b"", 1007),
    ("invalid-utf8-surrogate", "echo", F(OP_TEXT, b"a\xed\xa0\x80"), b"", 1007),
    ("invalid-utf8-overlong", "echo", F(OP_TEXT, b"\xc0\xaf"), b"", 1007),
    ("utf8-truncated-at-message-end", "echo", F(OP_TEXT, b"ab\xe2\x82"), b"", 1007),
    (
        "invalid-utf8-across-fragments",
        "echo",
        F(OP_TEXT, b"caf\xc3", fin=False) + F(OP_CONT, b"\x28"),
        b"caf\xc3",
        1007,
    ),
    ("invalid-utf8-close-reason", "echo", F(OP_CLOSE, b"\x03\xe8\xff"), b"", 1007),
    # Only the header of the oversized frame is sent: the server must decide on the header alone.
    ("frame-over-limit", "small", F(OP_BINARY, b"", length=SMALL_LIMIT + 1), b"", 1009),
    ("frame-over-default-limit", "echo", F(OP_BINARY, b"", length=1 << 40), b"", 1009),
    (
        "fragmented-message-over-limit",
        "small",
        F(OP_BINARY, b"a" * 40000, fin=False) + F(OP_CONT, b"", fin=True, length=40000),
        b"a" * 40000,
        1009,
    ),
]

INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def check_closed_with(client: RawClient, echoed: bytes, code: int):
    frames, clean_eof, left = client.frames_until_eof()
    assert left == b"", f"trailing bytes after the last frame: {left!r}"
    assert frames, "the server sent no close frame"
    close = frames[-1]
    assert close.opcode == OP_CLOSE, f"last frame is not a close: {frames}"
    assert close.fin and close.rsv == 0 and not close.masked, close
    assert close.close_code == code, f"expected close code {code}, got {close.close_code}: {close}"
    close.payload[2:].decode("utf-8")  # the reason must be UTF-8
    data = frames[:-1]
    assert all(f.opcode in (OP_TEXT, OP_BINARY, OP_CONT) and not f.masked for f in data), frames
    assert b"".join(f.payload for f in data) == echoed
    assert clean_eof, "the server reset the connection instead of closing it"


@pytest.mark.parametrize("name,server,sent,echoed,code", CASES, ids=[c[0] for c in CASES])
def test_protocol_error_closes_with_code(name, server, sent, echoed, code, echo_url, small_url):
    client = RawClient(echo_url if server == "echo" else small_url)
    try:
        client.send(sent)
        check_closed_with(client, echoed, code)
    finally:
        client.close()


@pytest.mark.parametrize("bad", INVALID_CLOSE_CODES)
def test_invalid_close_code_from_peer_is_1002(bad, echo_url):
    client = RawClient(echo_url)
    try:
        client.send(encode_frame(OP_CLOSE, struct.pack("!H", bad) + b"bad"))
        check_closed_with(client, b"", 1002)
    finally:
        client.close()


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 1012, 1013, 1014, 3000, 4999])
def test_valid_close_code_from_peer_is_echoed(code, echo_url):
    client = RawClient(echo_url)
    try:
        client.send(encode_frame(OP_CLOSE, struct.pack("!H", code) + b"bye"))
        check_closed_with(client, b"", code)
    finally:
        client.close()


def test_empty_close_is_answered(echo_url):
    """An empty close frame (no code) is valid; the reply carries no code either or 1000."""
    client = RawClient(echo_url)
    try:
        client.send(encode_frame(OP_CLOSE, b""))
        frames, clean_eof, left = client.frames_until_eof()
        assert left == b"" and clean_eof
        assert len(frames) == 1 and frames[0].opcode == OP_CLOSE, frames
        assert frames[0].payload in (b"", b"\x03\xe8"), frames[0]
    finally:
        client.close()


def test_no_reset_after_failing_with_data_in_flight(small_url):
    """Lingering close (regression test for a bug this suite found). After failing a connection (here 1009
    on a frame header), rill's server sends its close frame and shuts down its write side; had it then
    dropped the socket with the peer's bytes still unread, Linux would answer with a TCP RST, and a peer
    still writing (the rest of a large message, or its close reply as RFC 6455 section 5.5.1 requires)
    would get ECONNRESET/EPIPE; asyncio clients then abort before reading the close frame (1006 instead of
    1009). RFC 7230 section 6.6: half-close, then read and discard until the peer closes or a timeout.

    Here: the header of an oversized frame plus 100 KB of its payload, then, once the close frame is read,
    our close reply. The server must not reset the connection while we have not closed ours."""
    import select
    import socket as socketlib

    client = RawClient(small_url)
    try:
        client.send(encode_frame(OP_BINARY, b"", length=SMALL_LIMIT + 1) + b"\0" * 100_000)
        data = client.rest
        client.sock.settimeout(10)
        frames = []
        while not frames:
            chunk = client.sock.recv(65536)
            assert chunk, "connection ended before the close frame"
            data += chunk
            frames, data = decode_frames(data)
        assert frames[0].opcode == OP_CLOSE and frames[0].close_code == 1009, frames
        # Our close reply (the payload of the oversized frame was never sent, so the close is what a
        # lenient peer would send next).
        try:
            client.send(encode_frame(OP_CLOSE, struct.pack("!H", 1009)))
        except (ConnectionResetError, BrokenPipeError) as error:
            pytest.fail(f"rill reset the connection before the peer could send its close reply: {error!r}")
        poll = select.poll()
        poll.register(client.sock, select.POLLERR)
        events = poll.poll(1000)  # a reset shows up at once; a lingering close shows nothing
        error = client.sock.getsockopt(socketlib.SOL_SOCKET, socketlib.SO_ERROR)
        assert not events and error == 0, (
            f"rill reset the connection (poll {events}, SO_ERROR {error}) while the peer had data in flight"
        )
        client.sock.shutdown(socketlib.SHUT_WR)
        _, clean_eof = read_until_eof(client.sock)
        assert clean_eof
    finally:
        client.close()
