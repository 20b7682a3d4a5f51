"""WebSockets over HTTP/2 (RFC 8441) with Node's built-in `http2` client (node/h2.mjs) against axum_chat, on
one HTTP/2 connection each: over h2c (prior knowledge) and over TLS, where ALPN must choose `h2`. The script
checks every echoed byte (text and binary, 0 B to 1 MiB, a fragmented message with a ping inside), three
streams at once, close codes, one stream's protocol error failing that socket only, and the 426/400/403
refusals with their reasons.
"""

from conftest import _env
from test_node_deflate import node, node_dir  # noqa: F401 (the fixture)


def test_node_http2_client_over_h2c(node_dir):  # noqa: F811
    result = node(node_dir, "h2.mjs", {"url": _env("RILL_AXUM_H2C_URL")})
    assert "error" not in result, result
    assert result["alpn"] == "h2c", result
    assert len(result["checks"]) == 6, result


def test_node_http2_client_over_tls(node_dir):  # noqa: F811
    result = node(node_dir, "h2.mjs", {"url": _env("RILL_AXUM_H2_URL"), "ca": _env("RILL_TLS_CA")})
    assert "error" not in result, result
    assert result["alpn"] == "h2", result
    assert len(result["checks"]) == 6, result
