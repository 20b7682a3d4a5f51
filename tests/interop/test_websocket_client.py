"""`websocket-client` (the blocking client) against rill's echo server, including its low-level frame API:
fragments with fin=0 and continuation frames, and a ping between them."""

import struct

import pytest
import websocket
from websocket import ABNF

from conftest import IO_TIMEOUT, MIB, SMALL_LIMIT, pattern

TEXT = "Hello from websocket-client: ünïcødé ✓ 🦀"


def connect(url, **kwargs):
    return websocket.create_connection(url, timeout=IO_TIMEOUT, **kwargs)


def frame(data, opcode, fin=1):
    return ABNF.create_frame(data, opcode, fin)


def recv_message_frames(ws):
    """Frames up to the end of one data message (control frames are returned too, in order)."""
    frames = []
    while True:
        f = ws.recv_frame()
        frames.append(f)
        if f.opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT) and f.fin:
            return frames


def data_of(frames):
    data = [f for f in frames if f.opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT)]
    assert data[0].opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY), data[0]
    assert all(f.opcode == ABNF.OPCODE_CONT for f in data[1:]), [str(f) for f in data]
    return data[0].opcode, b"".join(f.data for f in data)


def expect_server_eof(ws):
    """After the close handshake rill, as the server, ends the TCP connection (RFC 6455 section 7.1.1)."""
    ws.sock.settimeout(IO_TIMEOUT)
    assert ws.sock.recv(1) == b""


def test_text_binary_and_one_mib(echo_url):
    ws = connect(echo_url)
    try:
        ws.send(TEXT)
        assert ws.recv() == TEXT
        ws.send_binary(bytes(range(256)))
        assert ws.recv() == bytes(range(256))
        big = pattern(MIB)
        ws.send_binary(big)
        assert ws.recv() == big
    finally:
        ws.close()


def test_fragmented_text_and_binary(echo_url):
    ws = connect(echo_url)
    try:
        text = "Fragmented ünïcødé ✓ 🦀".encode()
        cut = text.index("ü".encode()) + 1  # inside a character
        ws.send_frame(frame(text[:cut], ABNF.OPCODE_TEXT, fin=0))
        ws.send_frame(frame(text[cut:-3], ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(frame(text[-3:], ABNF.OPCODE_CONT, fin=1))
        opcode, data = data_of(recv_message_frames(ws))
        assert (opcode, data) == (ABNF.OPCODE_TEXT, text)

        big = pattern(MIB)
        parts = [big[i : i + 200_000] for i in range(0, MIB, 200_000)]
        ws.send_frame(frame(parts[0], ABNF.OPCODE_BINARY, fin=0))
        for part in parts[1:-1]:
            ws.send_frame(frame(part, ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(frame(parts[-1], ABNF.OPCODE_CONT, fin=1))
        opcode, data = data_of(recv_message_frames(ws))
        assert (opcode, data) == (ABNF.OPCODE_BINARY, big)

        # Empty fragments are legal too.
        ws.send_frame(frame(b"", ABNF.OPCODE_BINARY, fin=0))
        ws.send_frame(frame(b"", ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(frame(b"x", ABNF.OPCODE_CONT, fin=1))
        assert data_of(recv_message_frames(ws)) == (ABNF.OPCODE_BINARY, b"x")
    finally:
        ws.close()


@pytest.mark.parametrize("payload", [b"", b"mid-message ping", bytes(range(125))])
def test_ping_between_fragments(payload, echo_url):
    """Ping between the fragments of a message: the pong with the same payload must arrive while the
    message is still open (before the final fragment is sent), and the echoed message must be intact."""
    ws = connect(echo_url)
    try:
        ws.send_frame(frame("first half, ", ABNF.OPCODE_TEXT, fin=0))
        ws.send_frame(ABNF.create_frame(payload, ABNF.OPCODE_PING))
        before_pong = []
        while True:
            f = ws.recv_frame()
            if f.opcode == ABNF.OPCODE_PONG:
                assert f.data == payload
                break
            assert f.opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_CONT) and not f.fin, str(f)
            before_pong.append(f)
        # A second ping, a different payload, still mid-message.
        ws.send_frame(ABNF.create_frame(b"second", ABNF.OPCODE_PING))
        ws.send_frame(frame("second half", ABNF.OPCODE_CONT, fin=1))
        rest = recv_message_frames(ws)
        pongs = [f for f in rest if f.opcode == ABNF.OPCODE_PONG]
        assert [p.data for p in pongs] == [b"second"]
        opcode, data = data_of(before_pong + rest)
        assert (opcode, data) == (ABNF.OPCODE_TEXT, b"first half, second half")
    finally:
        ws.close()


def test_subprotocol(small_url):
    ws = connect(small_url, subprotocols=["superchat", "chat"])
    try:
        assert ws.getsubprotocol() == "superchat"
        ws.send("hi")
        assert ws.recv() == "hi"
    finally:
        ws.close()


@pytest.mark.parametrize("code,reason", [(1000, b""), (1000, b"done"), (3000, b"app"), (4999, "✓".encode())])
def test_client_initiated_close(code, reason, echo_url):
    ws = connect(echo_url)
    ws.send("before close")
    assert ws.recv() == "before close"
    ws.send_close(code, reason)
    reply = ws.recv_frame()
    assert reply.opcode == ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", reply.data[:2])[0] == code
    expect_server_eof(ws)
    ws.shutdown()


def test_server_initiated_close(small_url):
    ws = connect(small_url)
    ws.send("close-me")
    close = ws.recv_frame()
    assert close.opcode == ABNF.OPCODE_CLOSE
    assert close.data == struct.pack("!H", 1000) + b"server closing"
    ws.send_close(1000, b"")
    expect_server_eof(ws)
    ws.shutdown()


def test_unmasked_frame_gets_1002(echo_url):
    ws = connect(echo_url)
    ws.send_frame(ABNF(fin=1, opcode=ABNF.OPCODE_TEXT, mask_value=0, data=b"unmasked"))
    close = ws.recv_frame()
    assert close.opcode == ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", close.data[:2])[0] == 1002
    expect_server_eof(ws)
    ws.shutdown()


def test_reserved_opcode_gets_1002(echo_url):
    ws = connect(echo_url)
    # ABNF refuses to format opcode 0x3, so the masked frame goes out raw: FIN|0x3, mask bit, zero length.
    ws.sock.sendall(bytes([0x83, 0x80]) + b"\x00\x00\x00\x00")
    close = ws.recv_frame()
    assert close.opcode == ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", close.data[:2])[0] == 1002
    expect_server_eof(ws)
    ws.shutdown()


def test_invalid_utf8_gets_1007(echo_url):
    ws = connect(echo_url)
    ws.send_frame(frame(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", ABNF.OPCODE_TEXT))
    close = ws.recv_frame()
    assert close.opcode == ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", close.data[:2])[0] == 1007
    expect_server_eof(ws)
    ws.shutdown()


def test_message_over_limit_gets_1009(small_url):
    ws = connect(small_url)
    ws.send_frame(frame(b"z" * 50_000, ABNF.OPCODE_BINARY, fin=0))
    ws.send_frame(frame(b"z" * 50_000, ABNF.OPCODE_CONT, fin=1))
    frames = []
    while True:
        f = ws.recv_frame()
        frames.append(f)
        if f.opcode == ABNF.OPCODE_CLOSE:
            break
    assert struct.unpack("!H", frames[-1].data[:2])[0] == 1009
    assert sum(len(f.data) for f in frames[:-1]) == 50_000  # the first fragment was echoed, no more
    ws.shutdown()


@pytest.mark.parametrize("bad", [1005, 1006, 999, 2999, 5000])
def test_invalid_close_code_gets_1002(bad, echo_url):
    ws = connect(echo_url)
    ws.send_close(bad, b"")  # websocket-client does not check the code it sends
    close = ws.recv_frame()
    assert close.opcode == ABNF.OPCODE_CLOSE
    assert struct.unpack("!H", close.data[:2])[0] == 1002
    expect_server_eof(ws)
    ws.shutdown()
