// A Node `ws` echo server with permessage-deflate, for tests/interop/test_node_deflate.py and
// scripts/deflate-bench.sh.
//
//   node server.mjs '{"perMessageDeflate": {...}}'
//
// Listens on a free 127.0.0.1 port and prints `{"port": N}` on stdout; echoes every message as it came
// (text as text, binary as binary); when a connection ends, prints one JSON line with what was agreed
// (`extensions`: ws's negotiated extensions; `offer`: the client's Sec-WebSocket-Extensions;
// `answer`: ours) and the messages it echoed. When stdin closes, exits as soon as no connection is open;
// after `lifetimeMs` (default 300 s) whatever happens, so a crashed test never leaves it behind.
import { WebSocketServer } from "ws";

const options = JSON.parse(process.argv[2] ?? "{}");
const perMessageDeflate = options.perMessageDeflate ?? false;
const lifetime = setTimeout(() => process.exit(3), options.lifetimeMs ?? 300_000);
lifetime.unref();

const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate, maxPayload: 64 << 20 });
let answer = null;
server.on("headers", (headers) => {
  answer = headers.find((h) => /^sec-websocket-extensions:/i.test(h))?.split(":").slice(1).join(":").trim() ?? null;
});
server.on("connection", (ws, request) => {
  const record = {
    extensions: ws.extensions,
    offer: request.headers["sec-websocket-extensions"] ?? null,
    answer,
    messages: 0,
    bytes: 0,
  };
  ws.on("message", (data, isBinary) => {
    record.messages += 1;
    record.bytes += data.length;
    ws.send(data, { binary: isBinary });
  });
  ws.on("error", (error) => {
    record.error = String(error);
  });
  ws.on("close", (code) => {
    record.close = code;
    process.stdout.write(JSON.stringify(record) + "\n");
  });
});
server.on("listening", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
// On stdin's end, exit once every connection has ended (its record printed); the lifetime timer bounds it.
let open = 0;
let ending = false;
const exitWhenIdle = () => {
  if (ending && open === 0) process.exit(0);
};
server.on("connection", (ws) => {
  open += 1;
  ws.on("close", () => {
    open -= 1;
    setImmediate(exitWhenIdle); // after the record's own close listener
  });
});
process.stdin.on("end", () => {
  ending = true;
  exitWhenIdle();
});
process.stdin.resume();
