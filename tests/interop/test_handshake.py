"""The opening handshake on the wire: the exact 101 response, subprotocol selection, and the HTTP errors
that bad upgrade requests get (RFC 6455 section 4.2.2)."""

import socket

import pytest

from conftest import (
    IO_TIMEOUT,
    KEY,
    accept_key,
    host_port,
    parse_response,
    read_until_eof,
    upgrade_request,
)


def exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Sends `request` and reads the whole answer; returns status, headers, body, and whether the server
    ended the connection with a FIN."""
    host, port = host_port(url)
    with socket.create_connection((host, port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(request)
        data, clean_eof = read_until_eof(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = parse_response(head)
    return status, headers, body, clean_eof


def test_101_response(echo_url):
    host, port = host_port(echo_url)
    with socket.create_connection((host, port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(upgrade_request(host, port))
        sock.settimeout(IO_TIMEOUT)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
    head = data.split(b"\r\n\r\n")[0].decode()
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 101 Switching Protocols"
    status, headers = parse_response(data)
    assert headers["upgrade"].lower() == "websocket"
    assert "upgrade" in headers["connection"].lower()
    # The RFC's own example key and accept value.
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" == accept_key(KEY)
    assert "sec-websocket-protocol" not in headers


@pytest.mark.parametrize(
    "offered,chosen",
    [
        ("chat", "chat"),
        ("superchat, chat", "superchat"),
        ("chat, superchat", "chat"),
        ("other, superchat", "superchat"),
        ("other", None),
        ("Chat", None),  # subprotocol names are case-sensitive
    ],
)
def test_subprotocol_selection_on_the_wire(offered, chosen, small_url):
    host, port = host_port(small_url)
    with socket.create_connection((host, port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(upgrade_request(host, port, f"Sec-WebSocket-Protocol: {offered}\r\n"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
    status, headers = parse_response(data.split(b"\r\n\r\n")[0])
    assert status == 101
    assert headers.get("sec-websocket-protocol") == chosen


def test_default_server_chooses_no_subprotocol(echo_url):
    host, port = host_port(echo_url)
    with socket.create_connection((host, port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(upgrade_request(host, port, "Sec-WebSocket-Protocol: chat\r\n"))
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
    status, headers = parse_response(data.split(b"\r\n\r\n")[0])
    assert status == 101 and "sec-websocket-protocol" not in headers


def test_version_8_gets_426_with_version_13(echo_url):
    host, port = host_port(echo_url)
    status, headers, body, clean = exchange(echo_url, upgrade_request(host, port, version="8"))
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
    assert clean


def test_missing_version_gets_426(echo_url):
    host, port = host_port(echo_url)
    request = (
        f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\n\r\n"
    ).encode()
    status, headers, _, _ = exchange(echo_url, request)
    assert status == 426
    assert headers["sec-websocket-version"] == "13"


@pytest.mark.parametrize(
    "key",
    [
        "abc",  # not base64 of 16 bytes
        "dGhlIHNhbXBsZSBub25jZQ",  # unpadded
        "dGhlIHNhbXBsZSBub25jZSE=",  # 17 bytes
        "!!!!!!!!!!!!!!!!!!!!!!==",  # not base64
    ],
)
def test_bad_key_gets_400(key, echo_url):
    host, port = host_port(echo_url)
    status, headers, body, clean = exchange(echo_url, upgrade_request(host, port, key=key))
    assert status == 400, body
    assert clean


def test_missing_key_gets_400(echo_url):
    host, port = host_port(echo_url)
    request = (
        f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    status, _, _, _ = exchange(echo_url, request)
    assert status == 400


def test_plain_get_gets_426_with_upgrade_header(echo_url):
    host, port = host_port(echo_url)
    status, headers, body, clean = exchange(echo_url, f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    assert status == 426
    assert headers["upgrade"].lower() == "websocket"
    assert int(headers["content-length"]) == len(body)
    assert clean


def test_post_gets_405(echo_url):
    host, port = host_port(echo_url)
    request = upgrade_request(host, port).replace(b"GET ", b"POST ", 1)
    status, headers, _, _ = exchange(echo_url, request)
    assert status == 405
    assert headers["allow"] == "GET"


def test_http_1_0_gets_505(echo_url):
    host, port = host_port(echo_url)
    request = upgrade_request(host, port).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    status, _, _, _ = exchange(echo_url, request)
    assert status == 505


def test_missing_connection_upgrade_gets_400(echo_url):
    host, port = host_port(echo_url)
    request = upgrade_request(host, port).replace(b"Connection: Upgrade", b"Connection: keep-alive", 1)
    status, _, _, _ = exchange(echo_url, request)
    assert status == 400


def test_garbage_gets_400(echo_url):
    status, _, _, _ = exchange(echo_url, b"\x16\x03\x01\x00\xa5garbage\r\n\r\n")
    assert status == 400
