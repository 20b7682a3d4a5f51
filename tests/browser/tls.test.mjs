// The token_stream demo over HTTPS and WSS in headless Chromium: `token_stream --tls-cert --tls-key`
// terminates TLS itself (rill-tokio feature `rustls`), serving the page and the socket on one port.
//
// scripts/browser-test.sh makes a throwaway self-signed certificate, starts the server and passes:
//   RILL_TLS_URL   https://127.0.0.1:PORT/
//   RILL_TLS_SPKI  base64 SHA-256 of the certificate's public key, which Chromium is told to accept
//                  (--ignore-certificate-errors-spki-list: only this key, not every certificate)

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
const URL_TLS = env("RILL_TLS_URL");
const SPKI = env("RILL_TLS_SPKI");
const DONE_TIMEOUT_MS = 30_000;

// Trusts the test's certificate by its SPKI hash, not by disabling checks.
const CHROMIUM_ARGS = [
  ...BASE_ARGS,
  `--ignore-certificate-errors-spki-list=${SPKI}`,
];

let context;
let userDataDir;

before(async () => {
  userDataDir = await mkdtemp(join(tmpdir(), "rill-chromium-tls-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 600 },
  });
  // Record the URL of every WebSocket the page opens.
  await context.addInitScript(() => {
    window.__sockets = [];
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(url, ...rest) {
        super(url, ...rest);
        window.__sockets.push(String(url));
      }
    };
  });
});

after(async () => {
  await context?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

test("the page over https streams all three answers over wss", async () => {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const response = await page.goto(URL_TLS);
  assert.equal(response.status(), 200, "GET / over https from the rill-tokio server");
  assert.ok(response.url().startsWith("https://"), response.url());
  const security = await response.securityDetails();
  assert.ok(security, "a TLS connection");
  assert.match(security.protocol, /TLS 1\.[23]/, JSON.stringify(security));
  // /expected from the page itself: Node's fetch would not trust the throwaway certificate.
  const want = await page.evaluate(async () => (await fetch("/expected")).json());
  await page.waitForFunction(() => document.body.dataset.done === "1", null, { timeout: DONE_TIMEOUT_MS });
  const texts = await page.evaluate(() =>
    Object.fromEntries(["1", "2", "3"].map((s) => [s, document.querySelector(`#answer-${s} .text`)?.textContent ?? null])),
  );
  for (const s of ["1", "2", "3"]) assert.equal(texts[s], want[s], `answer ${s} as rendered`);
  const sockets = await page.evaluate(() => window.__sockets);
  assert.equal(sockets.length, 1, `one WebSocket: ${sockets}`);
  assert.ok(sockets[0].startsWith("wss://"), sockets[0]);
  assert.deepEqual(errors, [], "no uncaught errors in the page");
  await page.close();
});
