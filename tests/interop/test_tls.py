"""TLS interop (wss://): Python `websockets` and `websocket-client` against rill's `echo_server --tls-cert
--tls-key`, and rill's `interop_client --ca` against a Python `websockets` TLS server. Every certificate is
made for the run by `trustme` (a private CA; nothing is trusted but it).

scripts/interop.sh starts the TLS echo server and passes:

- RILL_ECHO_TLS_URL: `wss://localhost:PORT`, the echo server, whose certificate names `localhost` only;
- RILL_TLS_CA: the CA certificate (PEM) that signed it.
"""

import asyncio
import os
import ssl
import threading

import pytest
import trustme
import websocket
from websocket import ABNF
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from conftest import IO_TIMEOUT, MIB, host_port, pattern
from test_rill_client import SERVER_PROTOCOLS, TEXT as CLIENT_TEXT, PythonServer, run_client

TEXT = "Hello over TLS: ünïcødé ✓ 🦀"


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests through scripts/interop.sh")
    return value


@pytest.fixture(scope="session")
def tls_url():
    return _env("RILL_ECHO_TLS_URL")


@pytest.fixture(scope="session")
def tls_ca():
    return _env("RILL_TLS_CA")


def client_context(cafile, alpn=True):
    context = ssl.create_default_context(cafile=cafile)
    if alpn:
        context.set_alpn_protocols(["http/1.1"])
    return context


def ws_connect(url, context, **kwargs):
    return connect(url, ssl=context, max_size=None, open_timeout=10, close_timeout=10, **kwargs)


async def _websockets_echo(url, cafile):
    async with ws_connect(url, client_context(cafile)) as ws:
        tls = ws.transport.get_extra_info("ssl_object")
        assert tls.version() in ("TLSv1.2", "TLSv1.3"), tls.version()
        assert tls.selected_alpn_protocol() == "http/1.1"
        await ws.send(TEXT)
        assert await ws.recv() == TEXT
        await ws.send(bytes(range(256)))
        assert await ws.recv() == bytes(range(256))
        big = pattern(MIB)  # 64 TLS records each way
        await ws.send(big)
        assert await ws.recv() == big
        await ws.close(1000, "tls bye")
        assert ws.protocol.close_sent.code == 1000
        assert ws.protocol.close_rcvd is not None, "rill sent no close reply"
        assert ws.protocol.close_rcvd.code == 1000


def test_websockets_echo_and_close_over_tls(tls_url, tls_ca):
    asyncio.run(asyncio.wait_for(_websockets_echo(tls_url, tls_ca), 30))


def test_websocket_client_echo_and_close_over_tls(tls_url, tls_ca):
    ws = websocket.create_connection(tls_url, timeout=IO_TIMEOUT, sslopt={"ca_certs": tls_ca})
    try:
        ws.send(TEXT)
        assert ws.recv() == TEXT
        big = pattern(300_000)
        ws.send_binary(big)
        assert ws.recv() == big
        ws.send_close(1000, b"bye")
        reply = ws.recv_frame()
        assert reply.opcode == ABNF.OPCODE_CLOSE, reply
        assert int.from_bytes(reply.data[:2], "big") == 1000
        # rill ends the connection after the close handshake (RFC 6455 section 7.1.1).
        ws.sock.settimeout(IO_TIMEOUT)
        assert ws.sock.recv(1) == b""
    finally:
        ws.shutdown()


async def _wrong_host(url, cafile):
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        async with ws_connect(url, client_context(cafile)):
            pass
    return str(refused.value)


def test_python_client_refuses_the_certificate_for_another_host(tls_url, tls_ca):
    # The echo server's certificate names localhost; 127.0.0.1 is the same server under another name.
    host, port = host_port(tls_url)
    reason = asyncio.run(asyncio.wait_for(_wrong_host(f"wss://127.0.0.1:{port}/", tls_ca), 30))
    assert "127.0.0.1" in reason or "match" in reason, reason
    # The server survived the failed handshake.
    asyncio.run(asyncio.wait_for(_websockets_echo(tls_url, tls_ca), 30))


class TlsPythonServer(PythonServer):
    """test_rill_client's scripted `websockets` server, over TLS with a certificate for `names`."""

    def __init__(self, ca, names):
        self.records = {}
        self.finished = {}
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(context)

        def pick(connection, offered):
            return next((p for p in SERVER_PROTOCOLS if p in offered), None)

        async def main():
            self.stop = asyncio.Event()
            async with serve(
                self.handler,
                "127.0.0.1",
                0,
                ssl=context,
                max_size=None,
                select_subprotocol=pick,
                close_timeout=10,
            ) as server:
                self.port = server.sockets[0].getsockname()[1]
                started.set()
                await self.stop.wait()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self.thread.start()
        assert started.wait(10), "the Python TLS server did not start"

    def url(self, name, host="localhost"):
        return f"wss://{host}:{self.port}/{name}"


@pytest.fixture(scope="module")
def python_ca(tmp_path_factory):
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


@pytest.fixture(scope="module")
def tls_pyserver(python_ca):
    server = TlsPythonServer(python_ca[0], ["localhost"])
    yield server
    server.shutdown()


def test_rill_client_script_over_tls(client_bin, tls_pyserver, python_ca):
    name = "tls-script"
    result = run_client(
        client_bin, "--url", tls_pyserver.url(name), "--ca", python_ca[1], "--protocols", "chat"
    )
    record = tls_pyserver.record(name)
    assert "error" not in result, result
    assert result["protocol"] == "chat"
    for key in ["text_echo", "binary_echo", "chunked_binary_echo", "chunked_text_echo"]:
        assert result[key] is True, (key, result)
    assert result["fragmented_text"] is True, result
    assert result["fragmented_binary"] is True, result
    received = record["received"]
    assert received[0] == CLIENT_TEXT
    assert received[1] == bytes(range(256))
    assert received[2] == pattern(MIB)
    assert received[3] == CLIENT_TEXT
    assert received[4:] == ["fragments", "resume"]
    assert record["close_rcvd"] == (1000, "done")
    assert record["rcvd_then_sent"] is True
    assert result["close_code"] == 1000


def test_rill_client_server_initiated_close_over_tls(client_bin, tls_pyserver, python_ca):
    name = "tls-await-close"
    result = run_client(
        client_bin, "--url", tls_pyserver.url(name), "--ca", python_ca[1], "--mode", "await-close"
    )
    record = tls_pyserver.record(name)
    assert "error" not in result, result
    assert result["close_code"] == 1001
    assert record["close_rcvd"] is not None and record["close_rcvd"][0] == 1001


def test_rill_client_refuses_a_certificate_for_another_host(client_bin, python_ca):
    server = TlsPythonServer(python_ca[0], ["wrong.example"])
    try:
        result = run_client(client_bin, "--url", server.url("never"), "--ca", python_ca[1])
    finally:
        server.shutdown()
    assert "TLS handshake with server localhost failed" in result.get("error", ""), result
    assert "NotValidForName" in result.get("tls_error", ""), result
    assert "never" not in server.records, "the handshake must fail before any WebSocket"


def test_rill_client_refuses_an_unknown_ca(client_bin, tls_pyserver):
    # No --ca: the default roots (webpki-roots) do not include the run's private CA.
    result = run_client(client_bin, "--url", tls_pyserver.url("unknown-ca"))
    assert "TLS handshake with server localhost failed" in result.get("error", ""), result
    assert "UnknownIssuer" in result.get("tls_error", ""), result
