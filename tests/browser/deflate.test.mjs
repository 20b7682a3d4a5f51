// permessage-deflate in a real browser (issue #11): headless Chromium opens the token_stream demo, which
// negotiates deflate by default (rill-tokio's Config::default()). Checked from both ends of the browser:
// the page's WebSocket reports `extensions` containing permessage-deflate once open, and the DevTools
// protocol shows the 101's Sec-WebSocket-Extensions. The three answers must still render exactly as
// /expected, i.e. the compressed chunks inflate correctly in Chromium.
//
// Run by scripts/browser-test.sh (RILL_URL: the plain demo server; CHROMIUM as in token_stream.test.mjs).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "./chromium.mjs";

const URL_PLAIN = process.env.RILL_URL;
if (!URL_PLAIN) throw new Error("RILL_URL is not set: run scripts/browser-test.sh");


// Runs in the page before its scripts: records each WebSocket's `extensions` when it opens.
const RECORD_EXTENSIONS = () => {
  window.__extensions = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("open", () => window.__extensions.push(this.extensions));
    }
  };
};

let context;
let userDataDir;

before(async () => {
  userDataDir = await mkdtemp(join(tmpdir(), "rill-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
  await context.addInitScript(RECORD_EXTENSIONS);
});

after(async () => {
  await context?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

test("Chromium and the token_stream demo agree permessage-deflate, and the answers render exactly", async (t) => {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const handshakes = [];
  cdp.on("Network.webSocketWillSendHandshakeRequest", (e) => handshakes.push({ id: e.requestId, request: e.request.headers }));
  cdp.on("Network.webSocketHandshakeResponseReceived", (e) => {
    const entry = handshakes.find((h) => h.id === e.requestId);
    if (entry) Object.assign(entry, { status: e.response.status, response: e.response.headers });
  });
  const lower = (headers) => Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));

  const response = await page.goto(URL_PLAIN);
  assert.equal(response.status(), 200);
  await page.waitForFunction(() => document.body.dataset.done === "1", null, { timeout: 30_000 });

  const extensions = await page.evaluate(() => window.__extensions);
  t.diagnostic(`ws.extensions: ${JSON.stringify(extensions)}`);
  assert.equal(extensions.length, 1, "one WebSocket opened");
  assert.match(extensions[0], /^permessage-deflate\b/, "the browser agreed permessage-deflate");

  assert.equal(handshakes.length, 1, JSON.stringify(handshakes));
  const [handshake] = handshakes;
  const offer = lower(handshake.request)["sec-websocket-extensions"];
  const answer = lower(handshake.response)["sec-websocket-extensions"];
  t.diagnostic(`offer: ${offer}; answer: ${answer}`);
  assert.equal(handshake.status, 101);
  assert.match(offer ?? "", /permessage-deflate/, "Chromium offered permessage-deflate");
  assert.match(answer ?? "", /^permessage-deflate\b/, "the demo answered permessage-deflate");

  const want = await (await fetch(new URL("/expected", URL_PLAIN))).json();
  const texts = await page.evaluate(() =>
    Object.fromEntries(["1", "2", "3"].map((s) => [s, document.querySelector(`#answer-${s} .text`)?.textContent ?? null])),
  );
  for (const s of ["1", "2", "3"]) assert.equal(texts[s], want[s], `answer ${s} as rendered over a compressed connection`);
  await page.close();
});
