// WebSockets over HTTP/2 (RFC 8441) with Node's built-in `http2` client, for tests/interop/test_node_h2.py:
// extended CONNECT streams (`:protocol websocket`) to axum_chat's /echo on one HTTP/2 connection, RFC 6455
// framing done here (masked, as a client must). Checks every echoed byte, a ping's pong, close codes, and
// the statuses of refused requests.
//
//   node h2.mjs '{"url": "http://127.0.0.1:PORT" | "https://localhost:PORT", "ca": "ca.pem"?}'
//
// Prints one JSON line: `alpn` (what TLS chose, or null), `connectProtocol` (the server's setting),
// `checks` (what passed); exits 1 with `error` on the first failure, 2 after `timeoutMs` (default 50 s).
import http2 from "node:http2";
import crypto from "node:crypto";
import fs from "node:fs";

const options = JSON.parse(process.argv[2]);
const checks = [];
const fail = (error) => {
  process.stdout.write(JSON.stringify({ error: String(error?.stack ?? error), checks }) + "\n");
  process.exit(1);
};
setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: "timed out", checks }) + "\n");
  process.exit(2);
}, options.timeoutMs ?? 50_000).unref();
const expect = (ok, what) => {
  if (!ok) throw new Error(`failed: ${what}`);
};

// One frame, masked with a fresh key.
function frame(opcode, payload, fin = true) {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0, 0x80 | len])
    : len < 65536 ? Buffer.from([0, 0x80 | 126, len >> 8, len & 255])
    : Buffer.concat([Buffer.from([0, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
  head[0] = (fin ? 0x80 : 0) | opcode;
  const mask = crypto.randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

// A WebSocket on one extended CONNECT stream: `next()` resolves with the next whole frame the server sent.
class Socket {
  constructor(stream) {
    this.stream = stream;
    this.buf = Buffer.alloc(0);
    this.waiting = null;
    this.frames = [];
    stream.on("data", (chunk) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.parse();
    });
    stream.on("error", (e) => this.waiting?.reject(e));
    stream.on("end", () => this.waiting?.reject(new Error("stream ended")));
  }
  parse() {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      expect((b[1] & 0x80) === 0, "server frames are not masked");
      let len = b[1] & 0x7f, at = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); at = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); at = 10; }
      if (b.length < at + len) return;
      this.frames.push({ fin: (b[0] & 0x80) !== 0, opcode: b[0] & 0x0f, payload: b.subarray(at, at + len) });
      this.buf = b.subarray(at + len);
      if (this.waiting) { const w = this.waiting; this.waiting = null; w.resolve(this.frames.shift()); }
    }
  }
  next() {
    if (this.frames.length) return Promise.resolve(this.frames.shift());
    return new Promise((resolve, reject) => { this.waiting = { resolve, reject }; });
  }
  send(bytes) {
    return new Promise((resolve, reject) => this.stream.write(bytes, (e) => (e ? reject(e) : resolve())));
  }
  // The next whole message (continuations joined), answering nothing: the echo sends no control frames.
  async message() {
    const first = await this.next();
    const parts = [first.payload];
    let last = first;
    while (!last.fin) { last = await this.next(); expect(last.opcode === 0, "a continuation"); parts.push(last.payload); }
    return { opcode: first.opcode, payload: Buffer.concat(parts) };
  }
}

const url = new URL(options.url);
const session = http2.connect(url.origin, options.ca ? { ca: fs.readFileSync(options.ca) } : {});
session.on("error", fail);
const settings = await new Promise((resolve) => session.once("remoteSettings", resolve));
expect(settings.enableConnectProtocol === true, "the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL");
checks.push("settings");

function request(headers) {
  const stream = session.request({ ":method": "CONNECT", ":protocol": "websocket", ":path": "/echo",
    ":scheme": url.protocol.slice(0, -1), ":authority": url.host, "sec-websocket-version": "13", ...headers },
    { endStream: false });
  return new Promise((resolve, reject) => {
    stream.once("response", (h) => resolve({ stream, status: h[":status"], headers: h }));
    stream.once("error", reject);
  });
}

async function open(headers = {}) {
  const { stream, status, headers: answer } = await request(headers);
  expect(status === 200, `200 to the extended CONNECT, got ${status}`);
  expect(answer["sec-websocket-accept"] === undefined, "no Sec-WebSocket-Accept over HTTP/2");
  return new Socket(stream);
}

// Sizes around the length encodings' edges, up to 1 MiB.
const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 300_000, 1 << 20];
const text = (n) => Buffer.from("héllo ✓ ".repeat(Math.ceil(n / 11)), "utf8").subarray(0, n).toString("utf8");

async function echoes(ws, tag) {
  for (const size of SIZES) {
    const t = Buffer.from(text(size), "utf8");
    await ws.send(frame(1, t));
    let got = await ws.message();
    expect(got.opcode === 1 && got.payload.equals(t), `${tag}: text of ${t.length} B echoed`);
    const b = crypto.randomBytes(size);
    await ws.send(frame(2, b));
    got = await ws.message();
    expect(got.opcode === 2 && got.payload.equals(b), `${tag}: binary of ${size} B echoed`);
  }
  // A fragmented message with a ping between its fragments: the pong comes first, then the whole message.
  const parts = [Buffer.from("frag"), Buffer.from("mented ✓"), crypto.randomBytes(70_000).toString("base64")].map(Buffer.from);
  await ws.send(frame(1, parts[0], false));
  await ws.send(frame(0, parts[1], false));
  await ws.send(frame(9, Buffer.from("ping!")));
  await ws.send(frame(0, parts[2], true));
  const pong = await ws.next();
  expect(pong.opcode === 10 && pong.payload.toString() === "ping!", `${tag}: pong with the ping's payload`);
  const whole = await ws.message();
  expect(whole.opcode === 1 && whole.payload.equals(Buffer.concat(parts)), `${tag}: fragmented message echoed whole`);
}

async function close(ws, code, tag) {
  const payload = Buffer.alloc(2 + 3);
  payload.writeUInt16BE(code);
  payload.write("bye", 2);
  await ws.send(frame(8, payload));
  const answer = await ws.next();
  expect(answer.opcode === 8 && answer.payload.readUInt16BE(0) === code, `${tag}: close ${code} answered with ${code}`);
  ws.stream.end();
}

try {
  // Three sockets at once on the one connection, each echoing every size.
  const sockets = await Promise.all([open(), open(), open()]);
  await Promise.all(sockets.map((ws, i) => echoes(ws, `socket ${i}`)));
  checks.push("echoes on 3 concurrent streams");
  await Promise.all(sockets.map((ws, i) => close(ws, [1000, 4000, 1001][i], `socket ${i}`)));
  checks.push("closes 1000, 4000, 1001");
  // A protocol error on one stream (an unmasked frame) fails that socket with 1002, not the others.
  const [bad, good] = await Promise.all([open(), open()]);
  await bad.send(Buffer.from([0x81, 0x02, 0x68, 0x69]));
  const refused = await bad.next();
  expect(refused.opcode === 8 && refused.payload.readUInt16BE(0) === 1002, "unmasked frame: close 1002");
  await good.send(frame(1, Buffer.from("still here")));
  expect((await good.message()).payload.toString() === "still here", "the other stream keeps flowing");
  await close(good, 1000, "good");
  checks.push("a stream's protocol error fails that socket only");
  // Refusals are HTTP/2 statuses with the reason as the body.
  for (const [headers, status, what] of [
    [{ "sec-websocket-version": "12" }, 426, "version 12"],
    [{ "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" }, 400, "a Sec-WebSocket-Key"],
    [{ ":path": "/ws", origin: "https://evil.example" }, 403, "a foreign origin"],
  ]) {
    const { stream, status: got } = await request(headers);
    let body = "";
    stream.on("data", (c) => (body += c));
    await new Promise((resolve) => stream.on("end", resolve));
    expect(got === status && body.length > 0, `${what}: ${status} with a reason (got ${got}: ${body})`);
  }
  checks.push("426, 400, 403 with reasons");
  // The page, on the same connection.
  const page = session.request({ ":path": "/" });
  let html = "";
  page.on("data", (c) => (html += c));
  await new Promise((resolve) => page.on("end", resolve));
  expect(html.includes("rill chat"), "the page over HTTP/2");
  checks.push("page");
  const alpn = session.alpnProtocol ?? null;
  session.close();
  process.stdout.write(JSON.stringify({ alpn, connectProtocol: true, checks }) + "\n");
} catch (error) {
  fail(error);
}
