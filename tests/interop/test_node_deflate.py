"""permessage-deflate with Node `ws` (tests/interop/node, pinned by its package-lock.json), both ways.

Node is driven from pytest (one runner, one report, every process bounded by a subprocess timeout and its
own exit timer) rather than by a second test runner:

- node/client.mjs against rill's echo_server: `perMessageDeflate: { clientMaxWindowBits: 9..15,
  serverNoContextTakeover: true/false, threshold: 0 }`, seeded random text and binary messages echoed byte
  for byte, the agreement checked in `ws.extensions` and the response header;
- the rill-tokio client (`wsdeflate`) against node/server.mjs (a `ws` echo server with `perMessageDeflate`,
  threshold 0): random messages echoed byte for byte, the agreement checked from the server's side.
"""

import json
import os
import shutil
import subprocess

import pytest

from conftest import _env

NODE_TIMEOUT = 55


@pytest.fixture(scope="session")
def node_dir() -> str:
    path = _env("RILL_NODE_DIR")
    assert os.path.isdir(os.path.join(path, "node_modules", "ws")), "run `npm ci` in tests/interop/node (scripts/interop.sh does)"
    assert shutil.which("node"), "node is not installed (scripts/setup.sh)"
    return path


@pytest.fixture(scope="session")
def deflate_client() -> str:
    return _env("RILL_DEFLATE_CLIENT")


def node(node_dir, script, options, timeout=NODE_TIMEOUT):
    done = subprocess.run(
        ["node", os.path.join(node_dir, script), json.dumps(options)], capture_output=True, text=True, timeout=timeout
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and len(lines) == 1, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[0])


NODE_OFFERS = [(bits, snct) for bits in range(9, 16) for snct in (False, True)]


@pytest.mark.parametrize("bits,server_no_context_takeover", NODE_OFFERS, ids=[f"client_bits_{b}-snct_{int(s)}" for b, s in NODE_OFFERS])
def test_node_client_deflate_echo(bits, server_no_context_takeover, node_dir, echo_url):
    pmd = {"clientMaxWindowBits": bits, "serverNoContextTakeover": server_no_context_takeover, "threshold": 0}
    result = node(node_dir, "client.mjs", {"url": echo_url, "perMessageDeflate": pmd, "seed": 100 + bits * 2 + server_no_context_takeover, "count": 30, "maxSize": 200 * 1024})
    assert "error" not in result, result
    assert result["mismatch"] is None, result
    assert result["sent"] == result["echoed"] == 30, result
    assert result["close"] == 1000, result
    assert result["extensions"] == "permessage-deflate", result
    answer = result["answer"]
    assert answer is not None and answer.startswith("permessage-deflate"), result
    assert f"client_max_window_bits={bits}" in answer, answer
    assert ("server_no_context_takeover" in answer) == server_no_context_takeover, answer


def test_node_client_without_deflate(node_dir, echo_url):
    result = node(node_dir, "client.mjs", {"url": echo_url, "perMessageDeflate": False, "seed": 7, "count": 10, "maxSize": 65536})
    assert result["mismatch"] is None and result["echoed"] == 10, result
    assert result["answer"] is None and result["extensions"] == "", result


def test_node_client_against_no_deflate_server(node_dir, nodeflate_url):
    result = node(node_dir, "client.mjs", {"url": nodeflate_url, "perMessageDeflate": {"threshold": 0}, "seed": 8, "count": 10, "maxSize": 65536})
    assert result["mismatch"] is None and result["echoed"] == 10, result
    assert result["answer"] is None and result["extensions"] == "", result


@pytest.fixture(scope="session")
def nodeflate_url() -> str:
    return _env("RILL_ECHO_NODEFLATE_URL")


class NodeServer:
    def __init__(self, node_dir, per_message_deflate):
        self.process = subprocess.Popen(
            ["node", os.path.join(node_dir, "server.mjs"), json.dumps({"perMessageDeflate": per_message_deflate, "lifetimeMs": 120_000})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()  # bounded by the server's own lifetime timer
        assert line, self.process.stderr.read()
        self.port = json.loads(line)["port"]

    def records(self):
        """Stops the server (stdin closed) and returns what it recorded for each connection."""
        out, err = self.process.communicate(input="", timeout=30)
        assert self.process.returncode == 0, err
        return [json.loads(line) for line in out.strip().splitlines()]


NODE_SERVERS = {
    "ws-defaults-threshold-0": {"threshold": 0},
    "server-bits-10-no-takeover": {"threshold": 0, "serverMaxWindowBits": 10, "serverNoContextTakeover": True},
    "client-bits-10-both-no-takeover": {"threshold": 0, "clientMaxWindowBits": 10, "serverNoContextTakeover": True, "clientNoContextTakeover": True},
}
RILL_FLAGS = {
    "rill-defaults": [],
    "rill-no-takeover-window-10": ["--send-no-context-takeover", "--send-window-bits", "10", "--receive-window-bits", "10"],
}


@pytest.mark.parametrize("flags", list(RILL_FLAGS.values()), ids=list(RILL_FLAGS))
@pytest.mark.parametrize("pmd", list(NODE_SERVERS.values()), ids=list(NODE_SERVERS))
def test_rill_client_with_node_server(pmd, flags, node_dir, deflate_client):
    server = NodeServer(node_dir, pmd)
    try:
        done = subprocess.run(
            [deflate_client, "--url", f"ws://127.0.0.1:{server.port}/", "--mode", "echo", "--seed", "31", "--count", "40", *flags],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        records = server.records()
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and len(lines) == 1, done.stdout + done.stderr
    result = json.loads(lines[0])
    assert result["agreed"] is True and "permessage-deflate" in result["answer"], result
    assert len(records) == 1, records
    record = records[0]
    assert record["extensions"] == "permessage-deflate", record
    assert "permessage-deflate" in record["answer"], record
    assert record["messages"] == 40 and "error" not in record, record
    assert record["close"] == 1000, record
    if pmd.get("serverMaxWindowBits") == 10 or flags:
        assert "server_max_window_bits=10" in record["answer"], record
    if pmd.get("serverNoContextTakeover"):
        assert "server_no_context_takeover" in record["answer"], record
    # compression happened both ways
    assert result["wire_written"] < result["payload_bytes"] and result["wire_read"] < result["payload_bytes"], result
