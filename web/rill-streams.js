// rill-streams.js: the rill stream envelope in the browser. No dependencies, no build step.
//
// One WebSocket carries many logical streams (e.g. several model answers). Every chunk is one binary
// message: a 9-byte header (kind, stream id, sequence, big-endian) and the payload (docs/streams.md).
// This module reassembles each stream in order, hands out chunks the moment they land, and after a
// dropped connection reconnects and asks the server to resume each stream where it stopped, so no chunk
// is lost and none is repeated.

export const Kind = Object.freeze({ Chunk: 0x00, Last: 0x01, Cancel: 0x02, Error: 0x03, Resume: 0x10, Gone: 0x11 });
export const HEADER_LEN = 9;

/** Decodes a received binary message (ArrayBuffer) into { kind, stream, sequence, payload }. */
export function decodeEnvelope(buffer) {
  if (buffer.byteLength < HEADER_LEN) throw new Error("envelope shorter than its 9-byte header");
  const view = new DataView(buffer);
  return {
    kind: view.getUint8(0),
    stream: view.getUint32(1),
    sequence: view.getUint32(5),
    payload: new Uint8Array(buffer, HEADER_LEN),
  };
}

/** Encodes an envelope (header, then the payload bytes). */
export function encodeEnvelope(kind, stream, sequence, payload = new Uint8Array(0)) {
  const out = new Uint8Array(HEADER_LEN + payload.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, kind);
  view.setUint32(1, stream);
  view.setUint32(5, sequence);
  out.set(payload, HEADER_LEN);
  return out;
}

const endsStream = (kind) => kind === Kind.Last || kind === Kind.Cancel || kind === Kind.Error;

/** One logical stream: an async iterator of { text, bytes, sequence, kind } chunks, in order. */
class Stream {
  constructor(id) {
    this.id = id;
    this.next = 0; // the sequence expected next
    this.ended = false;
    this.requested = -1; // the sequence last asked for with a resume, so a gap is asked for once
    this.decoder = new TextDecoder("utf-8");
    this.pending = [];
    this.waiting = null;
  }

  push(chunk) {
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: chunk, done: false });
    } else {
      this.pending.push(chunk);
    }
  }

  finish() {
    this.ended = true;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this.pending.length > 0) return Promise.resolve({ value: this.pending.shift(), done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
      },
    };
  }
}

/**
 * A connection that reassembles streams and resumes them after reconnecting.
 *
 *   const client = new StreamClient("ws://host/ws");
 *   client.onstream = async (stream) => { for await (const chunk of stream) show(stream.id, chunk.text); };
 *   client.start();
 */
export class StreamClient {
  constructor(url, { reconnectDelayMs = 100, maxReconnectDelayMs = 5000 } = {}) {
    this.url = url;
    this.reconnectDelayMs = reconnectDelayMs;
    this.maxReconnectDelayMs = maxReconnectDelayMs;
    this.streams = new Map();
    this.onstream = null; // called with each new Stream
    this.onstatus = null; // called with "open", "closed" or "reconnecting"
    this.socket = null;
    this.stopped = false;
    this.delay = reconnectDelayMs;
  }

  /** Opens the connection (and reopens it whenever it drops, until close()). */
  start() {
    this.stopped = false;
    const socket = new WebSocket(this.url);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      this.delay = this.reconnectDelayMs;
      for (const stream of this.streams.values()) {
        stream.requested = -1; // a new connection: every stream is asked for again
        if (!stream.ended) this.resume(stream, stream.next);
      }
      this.status("open");
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") this.receive(decodeEnvelope(event.data));
    };
    socket.onclose = () => {
      this.socket = null;
      if (this.stopped) return this.status("closed");
      this.status("reconnecting");
      setTimeout(() => this.start(), this.delay);
      this.delay = Math.min(this.delay * 2, this.maxReconnectDelayMs);
    };
    this.socket = socket;
  }

  /** Sends a text message (e.g. telemetry) if connected. */
  sendText(text) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(text);
  }

  /** Closes for good. */
  close() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000);
  }

  /** Simulates a network failure: drops the socket so the client reconnects and resumes. */
  drop() {
    if (this.socket) this.socket.close(4000, "dropped");
  }

  stream(id) {
    let stream = this.streams.get(id);
    if (!stream) {
      stream = new Stream(id);
      this.streams.set(id, stream);
      if (this.onstream) this.onstream(stream);
    }
    return stream;
  }

  receive(envelope) {
    const stream = this.stream(envelope.stream);
    if (envelope.kind === Kind.Gone) {
      stream.push({ kind: Kind.Gone, sequence: envelope.sequence, text: "", bytes: envelope.payload });
      return stream.finish();
    }
    if (stream.ended || envelope.sequence < stream.next) return; // after the end, or a duplicate
    if (envelope.sequence > stream.next) return this.resume(stream, stream.next); // a gap
    stream.next += 1;
    const last = endsStream(envelope.kind);
    const text = stream.decoder.decode(envelope.payload, { stream: !last });
    stream.push({ kind: envelope.kind, sequence: envelope.sequence, text, bytes: envelope.payload });
    if (last) stream.finish();
  }

  resume(stream, sequence) {
    if (stream.requested === sequence || !this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    stream.requested = sequence;
    this.socket.send(encodeEnvelope(Kind.Resume, stream.id, sequence));
  }

  status(state) {
    if (this.onstatus) this.onstatus(state);
  }
}
