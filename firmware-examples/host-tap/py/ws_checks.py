"""WebSocket checks against the firmware server (host-tap) from inside the test's network namespace.

Uses Python `websockets` (pinned in tests/interop/requirements.txt). Run by scripts/firmware-host-tap.sh with
RILL_FW_URL=http://10.99.0.2:80; every step is bounded by asyncio timeouts.
"""

import asyncio
import os
import random
import struct
import sys
import time

from websockets.asyncio.client import connect

BASE = os.environ["RILL_FW_URL"].replace("http://", "ws://", 1)
STREAMS, TOKENS_PER_STREAM = 3, 20  # app::STREAMS, app::TOKENS_PER_STREAM
CHUNK, LAST, RESUME, GONE = 0x00, 0x01, 0x10, 0x11


def envelope(kind, stream, sequence, payload=b""):
    return struct.pack(">BII", kind, stream, sequence) + payload


def decode(message):
    assert isinstance(message, bytes) and len(message) >= 9, message
    kind, stream, sequence = struct.unpack(">BII", message[:9])
    return kind, stream, sequence, message[9:]


async def echo_large():
    """A 1 MiB binary and a 300 KB multi-byte text message echoed byte-exact through 2 KiB buffers.

    The server echoes each piece as it arrives, so its echo starts long before the message is sent: the client
    must read while it writes (websockets stops reading once 16 frames wait unread, and then both sides' buffers
    fill and the transfer stalls), hence recv() runs concurrently with send()."""
    async with connect(BASE + "/echo", max_size=None, open_timeout=10, close_timeout=10) as ws:

        async def round_trip(message):
            received = asyncio.ensure_future(asyncio.wait_for(ws.recv(), 120))
            await asyncio.wait_for(ws.send(message), 120)
            return await received

        data = random.Random(4).randbytes(1 << 20)
        start = time.monotonic()
        echoed = await round_trip(data)
        took = time.monotonic() - start
        assert echoed == data, "1 MiB echo differs"
        text = "é€😀 rill " * 20000
        assert await round_trip(text) == text, "text echo differs"
        await ws.close(1000, "done")
    assert ws.close_code == 1000, ws.close_code
    # websockets offers permessage-deflate by default; the firmware (feature deflate) inflates into a 4 KiB
    # window, so the client must have been held to client_max_window_bits=12.
    agreed = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    assert agreed == "permessage-deflate; client_max_window_bits=12", agreed
    print(f"echo (compressed by the client: {agreed}): 1 MiB binary byte-exact in {took:.2f} s ({len(data) / took / 1e6:.2f} MB/s), "
          f"{len(text.encode())} B UTF-8 text exact, close 1000")


async def pings_during_long_message():
    """websockets sends a 1 MiB message in 64 fragments; after each fragment a ping whose pong must arrive before
    the next fragment goes out, i.e. while the server is in the middle of echoing that message."""
    async with connect(BASE + "/echo", max_size=None, open_timeout=10, close_timeout=10) as ws:
        fragments = [bytes([i]) * 16384 for i in range(64)]
        rtts = []

        async def fragments_with_pings():
            for i, fragment in enumerate(fragments):
                yield fragment
                start = time.monotonic()
                waiter = await ws.ping(struct.pack(">I", i))
                await asyncio.wait_for(waiter, 10)
                rtts.append(time.monotonic() - start)

        receive = asyncio.ensure_future(asyncio.wait_for(ws.recv(), 120))
        await asyncio.wait_for(ws.send(fragments_with_pings()), 120)
        assert await receive == b"".join(fragments), "fragmented echo differs"
        await ws.close()
    assert len(rtts) == 64
    print(f"pings: 64 pongs while a 1 MiB fragmented message streamed, rtt median "
          f"{sorted(rtts)[32] * 1e3:.1f} ms, max {max(rtts) * 1e3:.1f} ms")


async def token_stream():
    """All streams complete and in order: kind, stream u32 BE, sequence u32 BE; Last at the end; close 1000."""
    async with connect(BASE + "/tokens", open_timeout=10, close_timeout=10) as ws:
        seen = {s: [] for s in range(1, STREAMS + 1)}
        order = []
        start = time.monotonic()
        async for message in ws:  # ends when the server closes
            kind, stream, sequence, payload = decode(message)
            assert stream in seen, stream
            assert sequence == len(seen[stream]), (stream, sequence, len(seen[stream]))
            assert kind == (LAST if sequence == TOKENS_PER_STREAM - 1 else CHUNK), (kind, sequence)
            text = payload.decode("ascii")
            assert text.startswith(f"{sequence:05d} ") and len(text) > 6, text
            seen[stream].append(text)
            order.append(stream)
        took = time.monotonic() - start
    assert ws.close_code == 1000 and ws.close_reason == "done", (ws.close_code, ws.close_reason)
    assert all(len(v) == TOKENS_PER_STREAM for v in seen.values()), {k: len(v) for k, v in seen.items()}
    assert order[:STREAMS] == list(range(1, STREAMS + 1)), order[:6]  # interleaved round robin
    print(f"tokens: {STREAMS} streams x {TOKENS_PER_STREAM} tokens complete and in order in {took:.2f} s, "
          f"e.g. stream 1: {' '.join(t[6:] for t in seen[1][:5])} ...; close 1000 'done'")
    return seen


async def token_resume(reference):
    """A Resume envelope restarts that stream at the given sequence; one past the end is answered with Gone."""
    async with connect(BASE + "/tokens", open_timeout=10, close_timeout=10) as ws:
        got = []
        while len(got) < 9:  # three tokens of each stream
            got.append(decode(await asyncio.wait_for(ws.recv(), 10)))
        await ws.send(envelope(RESUME, 2, 1))
        await ws.send(envelope(RESUME, 1, 999))
        gone = False
        stream2 = []
        async for message in ws:
            kind, stream, sequence, payload = decode(message)
            if kind == GONE:
                assert (stream, sequence) == (1, 999), (stream, sequence)
                gone = True
            elif stream == 2:
                stream2.append((sequence, payload.decode()))
        assert ws.close_code == 1000, ws.close_code
    assert gone, "no Gone for a resume past the end"
    # Stream 2 had sent 0, 1, 2; after Resume(2, 1) it continues at 1 with the same tokens as before.
    assert stream2[0][0] == 1, stream2[:3]
    assert [s for s, _ in stream2] == list(range(1, TOKENS_PER_STREAM)), [s for s, _ in stream2]
    assert [t for _, t in stream2] == reference[2][1:], "replayed tokens differ"
    print("resume: Resume(2, 1) replayed stream 2 from sequence 1 with identical tokens; Resume(1, 999) -> Gone")


async def main():
    await echo_large()
    await pings_during_long_message()
    reference = await token_stream()
    await token_resume(reference)


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(), 600))
    print("websockets checks passed")
    sys.exit(0)
