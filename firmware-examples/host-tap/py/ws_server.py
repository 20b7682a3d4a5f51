"""A Python `websockets` echo server for host-tap's `--client` mode; asserts what the board's client sent.

Usage: python ws_server.py HOST PORT. Serves exactly one connection, echoes its messages, then checks them (the
text, the 64 KiB binary pattern, the text after the ping, the close code and reason) and exits 0 or 1.
"""

import asyncio
import sys

from websockets.asyncio.server import serve

HELLO = "hello from rill-embassy"  # app::client::HELLO
BIG_LEN = 64 * 1024  # app::client::BIG_LEN
EXPECTED_BIG = bytes((i * 7) % 251 for i in range(BIG_LEN))  # app::client::pattern


async def main(host, port):
    done = asyncio.get_running_loop().create_future()
    got = []

    async def handler(ws):
        try:
            async for message in ws:
                got.append(message)
                await ws.send(message)
        finally:
            if not done.done():
                done.set_result((ws.close_code, ws.close_reason, ws.request.path))

    async with serve(handler, host, port, max_size=None, ping_interval=None):
        print(f"listening on {host}:{port}", flush=True)
        code, reason, path = await asyncio.wait_for(done, 120)
    assert path == "/rill", path
    assert len(got) == 3, [type(m).__name__ + str(len(m)) for m in got]
    assert got[0] == HELLO, got[0]
    assert isinstance(got[1], bytes) and got[1] == EXPECTED_BIG, "binary message differs"
    assert got[2] == "after ping", got[2]
    assert (code, reason) == (1000, "bye"), (code, reason)
    print(f"python server: got text, {BIG_LEN} B binary (pattern ok), text after ping, close {code} '{reason}'")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
