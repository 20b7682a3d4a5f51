// A Node `ws` client for tests/interop/test_node_deflate.py: sends seeded random text and binary messages
// one at a time and checks each echo byte for byte.
//
//   node client.mjs '{"url": "ws://127.0.0.1:PORT/", "perMessageDeflate": {...} | false,
//                     "seed": 1, "count": 40, "maxSize": 204800}'
//
// Prints one JSON line: `extensions` (what ws agreed), `answer` (the server's Sec-WebSocket-Extensions),
// `sent`, `echoed`, `mismatch` (the first message whose echo differed, or null). Exits 2 after
// `timeoutMs` (default 50 s).
import WebSocket from "ws";

const options = JSON.parse(process.argv[2]);
setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: "timed out" }) + "\n");
  process.exit(2);
}, options.timeoutMs ?? 50_000).unref();

// mulberry32: a small seeded generator, so a failing case can be rerun exactly.
let state = options.seed >>> 0;
const random = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const below = (n) => Math.floor(random() * n);

// Text: words from a small vocabulary (compressible) mixed with random code points (1 to 4 UTF-8 bytes).
const WORDS = ["the", "token", "stream", "deflate", "window", "ünïcødé", "✓", "🦀", "rill", "context"];
function text(size) {
  const parts = [];
  let length = 0;
  while (length < size) {
    let part;
    if (random() < 0.7) part = WORDS[below(WORDS.length)] + " ";
    else {
      let cp = below(0x110000);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
      part = String.fromCodePoint(cp);
    }
    parts.push(part);
    length += Buffer.byteLength(part);
  }
  return parts.join("");
}
function binary(size) {
  const bytes = Buffer.alloc(size);
  const compressible = random() < 0.5;
  for (let i = 0; i < size; i++) bytes[i] = compressible ? (i * 31 + below(4)) & 0xff : below(256);
  return bytes;
}
function size() {
  const r = random();
  if (r < 0.1) return 0;
  if (r < 0.5) return below(200);
  if (r < 0.8) return below(16 << 10);
  return below(options.maxSize + 1);
}

const messages = [];
for (let i = 0; i < options.count; i++) {
  const isText = random() < 0.5;
  messages.push(isText ? { isText, data: text(size()) } : { isText, data: binary(size()) });
}

const ws = new WebSocket(options.url, { perMessageDeflate: options.perMessageDeflate ?? false, maxPayload: 64 << 20 });
let answer = null;
ws.on("upgrade", (response) => {
  answer = response.headers["sec-websocket-extensions"] ?? null;
});
let next = 0;
const result = { extensions: null, answer: null, sent: 0, echoed: 0, mismatch: null };
function sendNext() {
  if (next === messages.length) {
    ws.close(1000, "done");
    return;
  }
  const m = messages[next];
  ws.send(m.data, { binary: !m.isText });
  result.sent += 1;
}
ws.on("open", () => {
  result.extensions = ws.extensions;
  result.answer = answer;
  sendNext();
});
ws.on("message", (data, isBinary) => {
  const m = messages[next];
  const expected = m.isText ? Buffer.from(m.data, "utf8") : m.data;
  if (isBinary === m.isText || !expected.equals(data)) {
    result.mismatch ??= { index: next, isText: m.isText, expectedLength: expected.length, gotLength: data.length, isBinary };
  }
  result.echoed += 1;
  next += 1;
  sendNext();
});
ws.on("error", (error) => {
  result.error = String(error);
});
ws.on("close", (code) => {
  result.close = code;
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
});
