// Real-browser test of the token_stream demo (adapters/tokio/examples/token_stream.rs) and of
// web/rill-streams.js: headless Debian Chromium driven by playwright-core, run by `node --test`.
//
// scripts/browser-test.sh builds the example, starts two servers and passes them in:
//   RILL_URL, RILL_EVENTS            server with `--interval-ms 15 --events` (its stdout in RILL_EVENTS)
//   RILL_DROP_URL, RILL_DROP_EVENTS  the same plus `--drop-after 30`
// Optional: CHROMIUM (default /usr/bin/chromium), RILL_SCREENSHOT (default docs/img/token_stream.png,
// "0" for none).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, readFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS } from "./chromium.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run scripts/browser-test.sh`);
  return value;
};
const URL_PLAIN = env("RILL_URL");
const EVENTS_PLAIN = env("RILL_EVENTS");
const URL_DROP = env("RILL_DROP_URL");
const EVENTS_DROP = env("RILL_DROP_EVENTS");
const here = dirname(fileURLToPath(import.meta.url));
const SCREENSHOT = process.env.RILL_SCREENSHOT ?? join(here, "..", "..", "docs", "img", "token_stream.png");
const DONE_TIMEOUT_MS = 30_000;


// Runs in the page before its scripts: records every WebSocket the page opens, each binary message it
// receives (kind, stream, sequence) and sends (resume requests), and each status the page shows.
const INSTRUMENT = () => {
  const log = { sockets: 0, received: [], sent: [], status: [] };
  window.__rill = log;
  const header = (buffer) => {
    const view = new DataView(buffer);
    return { kind: view.getUint8(0), stream: view.getUint32(1), sequence: view.getUint32(5) };
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const socket = ++log.sockets;
      this.addEventListener("message", (event) => {
        if (typeof event.data !== "string") log.received.push({ socket, ...header(event.data) });
      });
      this.socket = socket;
    }
    send(data) {
      if (typeof data !== "string") {
        const bytes = data instanceof ArrayBuffer ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
        log.sent.push({ socket: this.socket, ...header(bytes) });
      }
      return super.send(data);
    }
  };
  new MutationObserver(() => {
    const status = document.body && document.body.dataset.status;
    if (status && log.status[log.status.length - 1] !== status) log.status.push(status);
  }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-status"] });
};

let context;
let userDataDir;

before(async () => {
  userDataDir = await mkdtemp(join(tmpdir(), "rill-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 600 },
  });
  await context.addInitScript(INSTRUMENT);
});

after(async () => {
  await context?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

async function expected(base) {
  const response = await fetch(new URL("/expected", base));
  assert.equal(response.status, 200);
  const answers = await response.json();
  assert.deepEqual(Object.keys(answers).sort(), ["1", "2", "3"]);
  return answers;
}

/** Opens the page; `whileStreaming(page)` runs once the page shows some text (for the drop test). */
async function streamPage(base, whileStreaming) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const response = await page.goto(base);
  assert.equal(response.status(), 200, "GET / from the rill-tokio server");
  assert.match(await page.title(), /rill/);
  const session = await page.evaluate(() => new URL(window.rillClient.url).searchParams.get("session"));
  assert.ok(session, "the page has a session id");
  if (whileStreaming) await whileStreaming(page);
  await page.waitForFunction(() => document.body.dataset.done === "1", null, { timeout: DONE_TIMEOUT_MS });
  const texts = await page.evaluate(() =>
    Object.fromEntries(["1", "2", "3"].map((s) => [s, document.querySelector(`#answer-${s} .text`)?.textContent ?? null])),
  );
  const log = await page.evaluate(() => window.__rill);
  assert.deepEqual(errors, [], "no uncaught errors in the page");
  return { page, session, texts, log };
}

/** The server's --events lines for one session, waiting until `ready(events)` holds (or a timeout). */
async function sessionEvents(file, session, ready, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = (await readFile(file, "utf8"))
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line))
      .filter((event) => event.session === session);
    if (ready(events) || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const find = (events, event, stream) => events.find((e) => e.event === event && e.stream === stream);

/** The chunk messages of one socket, in arrival order, as stream ids. */
const streamOrder = (log, socket) => log.received.filter((m) => m.socket === socket && m.kind <= 1).map((m) => m.stream);

test("three interleaved streams render exactly as /expected (and a screenshot)", async () => {
  const want = await expected(URL_PLAIN);
  const { page, texts, log } = await streamPage(URL_PLAIN);
  for (const s of ["1", "2", "3"]) assert.equal(texts[s], want[s], `answer ${s} as rendered`);
  assert.equal(log.sockets, 1, "one WebSocket, no reconnect");
  // Interleaved on one connection: every stream has chunks before any stream has ended.
  const order = streamOrder(log, 1);
  const firstLast = log.received.findIndex((m) => m.kind === 1);
  assert.deepEqual(new Set(order.slice(0, firstLast)), new Set([1, 2, 3]), "all three streams before the first ends");
  let switches = 0;
  for (let i = 1; i < order.length; i++) if (order[i] !== order[i - 1]) switches++;
  assert.ok(switches > order.length / 2, `streams alternate (${switches} switches in ${order.length} chunks)`);
  assert.equal(await page.evaluate(() => document.querySelectorAll(".answer.done").length), 3);
  if (SCREENSHOT !== "0") {
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    // The heading and the three answers, not the empty space below them.
    const bottom = await page.evaluate(() => document.getElementById("answers").getBoundingClientRect().bottom);
    await page.screenshot({ path: SCREENSHOT, clip: { x: 0, y: 0, width: 1200, height: Math.min(600, Math.ceil(bottom) + 24) } });
  }
  await page.close();
});

test("each stream's first token is on screen before its last token is sent", async (t) => {
  const want = await expected(URL_PLAIN);
  const { page, session, texts } = await streamPage(URL_PLAIN);
  for (const s of ["1", "2", "3"]) assert.equal(texts[s], want[s], `answer ${s} as rendered`);
  const complete = (events) => [1, 2, 3].every((s) => find(events, "first_rendered", s) && find(events, "sent_last", s));
  const events = await sessionEvents(EVENTS_PLAIN, session, complete);
  t.diagnostic(events.map((e) => `${e.order} ${e.event} ${e.stream}`).join(", "));
  for (const s of [1, 2, 3]) {
    const first = find(events, "sent_first", s);
    const rendered = find(events, "first_rendered", s);
    const last = find(events, "sent_last", s);
    assert.ok(first && rendered && last, `stream ${s}: sent_first, first_rendered and sent_last logged: ${JSON.stringify(events)}`);
    assert.ok(first.order < rendered.order, `stream ${s}: sent_first (${first.order}) before first_rendered (${rendered.order})`);
    assert.ok(
      rendered.order < last.order,
      `stream ${s}: first_rendered (${rendered.order}) before sent_last (${last.order})`,
    );
  }
  await page.close();
});

/** After a drop: the page reconnected, asked each unfinished stream to resume, and nothing is lost or repeated. */
function assertResumed(log, texts, want) {
  for (const s of ["1", "2", "3"]) assert.equal(texts[s], want[s], `answer ${s} as rendered after the drop`);
  assert.ok(log.sockets >= 2, `the page reconnected (${log.sockets} sockets)`);
  const reconnecting = log.status.indexOf("reconnecting");
  assert.ok(reconnecting > 0 && log.status[reconnecting - 1] === "open", `status open → reconnecting: ${log.status}`);
  assert.equal(log.status[log.status.length - 1], "open", `status back to open: ${log.status}`);
  const resumes = log.sent.filter((m) => m.kind === 0x10 && m.socket === 2);
  assert.ok(resumes.length > 0, "the new connection asked to resume");
  for (const resume of resumes) {
    // It asked from exactly the next sequence the first connection had delivered for that stream.
    const had = log.received.filter((m) => m.socket === 1 && m.stream === resume.stream && m.kind <= 1).length;
    assert.equal(resume.sequence, had, `stream ${resume.stream} resumed from ${resume.sequence}, first socket delivered ${had}`);
  }
  assert.ok(!log.received.some((m) => m.kind === 0x11), "no stream was gone");
  // What the second connection brought, replayed by the page's rules: in order, a duplicate, or past a gap.
  const summary = resumes.map(({ stream, sequence }) => {
    let next = sequence, accepted = 0, duplicates = 0, gaps = 0;
    for (const m of log.received.filter((m) => m.socket === 2 && m.stream === stream && m.kind <= 1)) {
      if (m.sequence === next) (next += 1), (accepted += 1);
      else if (m.sequence < next) duplicates += 1;
      else gaps += 1;
    }
    return `stream ${stream}: resumed from ${sequence}, then ${accepted} in order, ${duplicates} duplicates, ${gaps} past a gap`;
  });
  return `status ${log.status.join(" → ")}; ${log.sockets} sockets; ${summary.join("; ")}`;
}

test("server drops the connection mid-stream (--drop-after 30): reconnect and resume, nothing lost or repeated", async (t) => {
  const want = await expected(URL_DROP);
  const { page, session, texts, log } = await streamPage(URL_DROP);
  t.diagnostic(assertResumed(log, texts, want));
  // Every stream was mid-way when the server dropped: 30 tokens in, none finished.
  assert.deepEqual(
    log.sent.filter((m) => m.kind === 0x10 && m.socket === 2).map((m) => m.stream).sort(),
    [1, 2, 3],
    "all three streams resumed",
  );
  const events = await sessionEvents(EVENTS_DROP, session, (e) => e.some((x) => x.event === "dropped") && [1, 2, 3].every((s) => find(e, "sent_last", s)));
  const dropped = events.filter((e) => e.event === "dropped");
  assert.equal(dropped.length, 1, `one dropped event for the session: ${JSON.stringify(events)}`);
  for (const s of [1, 2, 3]) {
    assert.ok(find(events, "sent_first", s).order < dropped[0].order, `stream ${s} started before the drop`);
    assert.ok(dropped[0].order < find(events, "sent_last", s).order, `stream ${s} ended after the drop`);
  }
  await page.close();
});

test("page drops the connection mid-stream (rillClient.drop()): reconnect and resume, nothing lost or repeated", async (t) => {
  const want = await expected(URL_PLAIN);
  const total = Object.values(want).reduce((n, a) => n + a.length, 0);
  const { page, texts, log } = await streamPage(URL_PLAIN, async (page) => {
    // Some tokens of every answer on screen, about a quarter of all text, and not done.
    await page.waitForFunction(
      (quarter) => {
        const texts = [1, 2, 3].map((s) => document.querySelector(`#answer-${s} .text`)?.textContent ?? "");
        return texts.every((t) => t.length > 0) && texts.join("").length >= quarter;
      },
      total / 4,
      { timeout: DONE_TIMEOUT_MS, polling: 5 },
    );
    const done = await page.evaluate(() => {
      const done = document.body.dataset.done === "1";
      window.rillClient.drop();
      return done;
    });
    assert.ok(!done, "dropped before the page was done");
  });
  t.diagnostic(assertResumed(log, texts, want));
  await page.close();
});
