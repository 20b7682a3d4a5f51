// axum_chat over HTTPS in headless Chromium, HTTP/1.1 and HTTP/2 on one port (ALPN): the page must come
// over h2, and the chat socket must work. Which protocol the browser chose for the socket is read from
// the DevTools protocol (Network.webSocketWillSendHandshakeRequest / webSocketHandshakeResponseReceived:
// an HTTP/2 extended CONNECT is answered 200, an HTTP/1.1 upgrade 101) and printed.
//
// scripts/browser-test.sh starts `axum_chat --tls-cert --tls-key` with a throwaway self-signed certificate
// and passes:
//   RILL_AXUM_URL   https://127.0.0.1:PORT/
//   RILL_TLS_SPKI   base64 SHA-256 of the certificate's public key, which Chromium is told to accept

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS as BASE_ARGS } from "./chromium.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/browser-test.sh`);
  return value;
};
const URL_AXUM = env("RILL_AXUM_URL");
const SPKI = env("RILL_TLS_SPKI");
const TIMEOUT_MS = 30_000;

let context;
let userDataDir;

before(async () => {
  userDataDir = await mkdtemp(join(tmpdir(), "rill-chromium-h2-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [...BASE_ARGS, `--ignore-certificate-errors-spki-list=${SPKI}`],
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

test("axum_chat's page over h2, and its socket works", async () => {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const protocols = {};
  const socket = {};
  cdp.on("Network.responseReceived", ({ response }) => {
    if (response.url === URL_AXUM) protocols.page = response.protocol;
  });
  cdp.on("Network.webSocketCreated", ({ url }) => (socket.url = url));
  cdp.on("Network.webSocketWillSendHandshakeRequest", ({ request }) => (socket.request = request.headers));
  cdp.on("Network.webSocketHandshakeResponseReceived", ({ response }) => {
    socket.status = response.status;
    socket.response = response.headers;
  });
  const response = await page.goto(URL_AXUM);
  assert.equal(response.status(), 200);
  assert.equal(protocols.page, "h2", `the page's protocol: ${JSON.stringify(protocols)}`);
  // A line typed into the form comes back from the room (the chat broadcasts to its sender too).
  await page.waitForFunction(() => ws.readyState === WebSocket.OPEN, null, { timeout: TIMEOUT_MS });
  await page.fill("#text", "over h2?");
  await page.click("button");
  await page.waitForFunction(() => document.querySelector("#log li")?.textContent === "over h2?", null, {
    timeout: TIMEOUT_MS,
  });
  // 200: an extended CONNECT on the page's HTTP/2 connection; 101: an HTTP/1.1 upgrade.
  socket.protocol = socket.status === 200 ? "h2" : socket.status === 101 ? "http/1.1" : `status ${socket.status}`;
  console.log(`browser-test: axum_chat page over ${protocols.page}, socket over ${socket.protocol}: ${JSON.stringify(socket)}`);
  assert.ok(socket.url?.startsWith("wss://"), JSON.stringify(socket));
  assert.equal(socket.protocol, "h2", JSON.stringify(socket));
  assert.deepEqual(errors, []);
  await page.close();
});
