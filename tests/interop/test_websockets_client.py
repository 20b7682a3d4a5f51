"""Python `websockets` (asyncio API) as a client of rill's echo server."""

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

from conftest import MIB, SMALL_LIMIT, pattern

TEXT = "Hello from websockets: ünïcødé ✓ 🦀"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def client(url, **kwargs):
    return connect(url, max_size=None, open_timeout=10, close_timeout=10, **kwargs)


def test_text_and_binary_echo(echo_url):
    async def main():
        async with client(echo_url) as ws:
            await ws.send(TEXT)
            assert await ws.recv() == TEXT
            await ws.send(bytes(range(256)))
            assert await ws.recv() == bytes(range(256))
            await ws.send(b"")
            assert await ws.recv() == b""
            await ws.send("")
            assert await ws.recv() == ""

    run(main())


def test_one_mib_messages(echo_url):
    big = pattern(MIB)
    big_text = ("rill ✓ " * (MIB // 9 + 1))[: MIB // 3]

    async def main():
        async with client(echo_url) as ws:
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send(big_text)
            assert await ws.recv() == big_text

    run(main())


def test_fragmented_messages(echo_url):
    """send() with an iterable sends one frame per item; the echo must be the whole message."""
    parts = ["Frag", "mented ", "ünïcødé ", "✓ 🦀", ""]
    big = pattern(MIB)

    async def main():
        async with client(echo_url) as ws:
            await ws.send(parts)
            assert await ws.recv() == "".join(parts)
            await ws.send([big[i : i + 100_000] for i in range(0, MIB, 100_000)])
            assert await ws.recv() == big

    run(main())


def test_ping_mid_fragmented_message(echo_url):
    """A ping between the fragments of our message: the pong (same payload, or websockets would not match
    it) must come back while the message is still open, and the echoed message must be intact."""
    seen = {}

    async def main():
        async with client(echo_url) as ws:

            async def fragments():
                yield "first half, "
                pong = await ws.ping(b"mid-message ping payload")
                seen["latency"] = await asyncio.wait_for(pong, 10)
                yield "second half"

            await ws.send(fragments())
            assert await ws.recv() == "first half, second half"
            pong = await ws.ping(b"plain ping")
            seen["plain"] = await asyncio.wait_for(pong, 10)

    run(main())
    assert seen["latency"] >= 0 and seen["plain"] >= 0


@pytest.mark.parametrize(
    "offered,chosen",
    [(["chat"], "chat"), (["superchat", "chat"], "superchat"), (["chat", "superchat"], "chat"), (["other"], None)],
)
def test_subprotocol(offered, chosen, small_url):
    async def main():
        async with client(small_url, subprotocols=offered) as ws:
            assert ws.subprotocol == chosen
            await ws.send("after negotiation")
            assert await ws.recv() == "after negotiation"

    run(main())


@pytest.mark.parametrize("code,reason", [(1000, "done"), (1001, ""), (4000, "custom ✓")])
def test_client_initiated_close_is_echoed(code, reason, echo_url):
    async def main():
        ws = await client(echo_url)
        await ws.send("before close")
        assert await ws.recv() == "before close"
        await ws.close(code, reason)
        assert ws.protocol.close_sent.code == code
        assert ws.protocol.close_rcvd is not None, "rill sent no close reply"
        assert ws.protocol.close_rcvd.code == code

    run(main())


def test_server_initiated_close(small_url):
    async def main():
        async with client(small_url) as ws:
            await ws.send("echo me first")
            assert await ws.recv() == "echo me first"
            await ws.send("close-me")
            with pytest.raises(ConnectionClosedOK) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1000
            assert closed.value.rcvd.reason == "server closing"
            assert closed.value.sent.code == 1000  # websockets echoes the code
            assert closed.value.rcvd_then_sent is True

    run(main())


def test_invalid_utf8_text_gets_1007(echo_url):
    async def main():
        async with client(echo_url) as ws:
            await ws.send(b"valid then \xff", text=True)  # bytes sent as a text frame, unchecked
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1007

    run(main())


def test_message_over_limit_gets_1009(small_url):
    async def main():
        async with client(small_url) as ws:
            await ws.send(b"x" * SMALL_LIMIT)  # at the limit: fine
            assert await ws.recv() == b"x" * SMALL_LIMIT
            await ws.send(b"x" * (SMALL_LIMIT + 1))
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None, f"no close frame from rill: {closed.value!r}"
            assert closed.value.rcvd.code == 1009

    run(main())


def test_fragmented_message_over_limit_gets_1009(small_url):
    """rill fails the connection with 1009 on the second fragment's header while websockets is still
    writing the final fragment; rill lingers (reads and discards) instead of resetting the connection, so
    websockets receives the close frame. Before that fix this failed about 3 runs in 8 with 1006; the
    deterministic reproduction is test_protocol_errors.py::test_no_reset_after_failing_with_data_in_flight."""
    async def main():
        async with client(small_url) as ws:
            await ws.send([b"y" * 40000, b"y" * 40000])
            with pytest.raises(ConnectionClosedError) as closed:
                while True:
                    await ws.recv()
            assert closed.value.rcvd is not None, f"no close frame from rill: {closed.value!r}"
            assert closed.value.rcvd.code == 1009

    run(main())
