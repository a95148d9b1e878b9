/**
 * The client side of the WebSocket wire format (RFC 6455) for `dial.ts`, without I/O: the opening
 * handshake's request and the check of its answer, masked frames out, frames in parsed from a
 * buffer. Only what the links use: no extensions, no subprotocols.
 *
 * @module
 */

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

const HANDSHAKE_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** A handshake answer longer than this is refused. */
export const HANDSHAKE_MAX_BYTES = 16 * 1024;

const encoder = new TextEncoder();

/** A fresh `Sec-WebSocket-Key`. */
export function newHandshakeKey(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(16)));
}

/** The opening handshake's HTTP/1.1 request for `url`. */
export function upgradeRequest(url: URL, key: string): Uint8Array {
  return encoder.encode(
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
      `Sec-WebSocket-Version: 13\r\n\r\n`,
  );
}

/** Throws unless `head` (the answer up to its blank line) is a valid 101 for `key`. */
export async function checkUpgradeAnswer(head: Uint8Array, key: string): Promise<void> {
  const lines = new TextDecoder().decode(head).split("\r\n");
  if (!/^HTTP\/1\.1 101\b/.test(lines[0])) throw new Error(`upgrade refused: ${lines[0]}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
  }
  const expected = toBase64(
    new Uint8Array(await crypto.subtle.digest("SHA-1", encoder.encode(key + HANDSHAKE_GUID))),
  );
  if (
    headers.get("upgrade")?.toLowerCase() !== "websocket" ||
    !/\bupgrade\b/i.test(headers.get("connection") ?? "") ||
    headers.get("sec-websocket-accept") !== expected ||
    headers.has("sec-websocket-extensions")
  ) {
    throw new Error("bad upgrade answer");
  }
}

export type Parsed =
  | { fin: boolean; op: number; payloadStart: number; next: number }
  | { error: { code: number; reason: string } };

/** The frame at buf[start..end], undefined if it is not all there yet. */
export function parseFrame(
  buf: Uint8Array,
  start: number,
  end: number,
  maxMessageBytes: number,
): Parsed | undefined {
  const header = frameHeader(buf, start, end);
  if (header === undefined) return undefined;
  if ("error" in header) return header;
  const { headerBytes, length } = header;
  if (length > maxMessageBytes) return { error: { code: 1009, reason: "message too big" } };
  if (end - start < headerBytes + length) return undefined;
  const b0 = buf[start];
  const op = b0 & 0x0f;
  const fin = (b0 & 0x80) !== 0;
  if ((b0 & 0x70) !== 0) return { error: { code: 1002, reason: "reserved bits set" } };
  if (op >= 0x8 && (!fin || length > 125)) {
    return { error: { code: 1002, reason: "bad control frame" } };
  }
  return { fin, op, payloadStart: start + headerBytes, next: start + headerBytes + length };
}

function frameHeader(
  buf: Uint8Array,
  start: number,
  end: number,
):
  | { headerBytes: number; length: number }
  | { error: { code: number; reason: string } }
  | undefined {
  if (end - start < 2) return undefined;
  const b1 = buf[start + 1];
  // A server never masks its frames (RFC 6455 §5.1).
  if ((b1 & 0x80) !== 0) return { error: { code: 1002, reason: "masked frame from server" } };
  const len7 = b1 & 0x7f;
  if (len7 < 126) return { headerBytes: 2, length: len7 };
  const view = new DataView(buf.buffer, buf.byteOffset);
  if (len7 === 126) {
    return end - start < 4 ? undefined : { headerBytes: 4, length: view.getUint16(start + 2) };
  }
  if (end - start < 10) return undefined;
  const high = view.getUint32(start + 2);
  if (high >= 0x200000) return { error: { code: 1009, reason: "message too big" } };
  return { headerBytes: 10, length: high * 2 ** 32 + view.getUint32(start + 6) };
}

/** Bytes the frame starting at `start` needs in all (0 when its header is not in yet). */
export function frameBytesNeeded(buf: Uint8Array, start: number, end: number): number {
  const header = frameHeader(buf, start, end);
  if (header === undefined || "error" in header) return 0;
  return header.headerBytes + header.length;
}

/**
 * A final client frame: header, random mask, masked payload (RFC 6455 §5.2, §5.3). The payload
 * may come in parts (a version byte and a body): they are copied into the frame's one buffer,
 * which saves a buffer of the payload's size per message.
 */
export function encodeFrame(
  op: number,
  payload: Uint8Array | readonly Uint8Array[],
  allocate: (bytes: number) => Uint8Array = newBuffer,
): Uint8Array {
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  let n = 0;
  for (const part of parts) n += part.byteLength;
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const headerBytes = 2 + lengthBytes + 4;
  // Padding in front so the payload starts 4-aligned and can be masked a word at a time.
  const pad = (4 - headerBytes % 4) % 4;
  // Every byte of the frame is written below, so `allocate` may hand out a used buffer; it must
  // start its ArrayBuffer (the views below are laid on the buffer).
  const whole = allocate(pad + headerBytes + n);
  const frame = whole.subarray(pad);
  frame[0] = 0x80 | op;
  const view = new DataView(whole.buffer, pad);
  if (lengthBytes === 0) frame[1] = 0x80 | n;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    view.setUint16(2, n);
  } else {
    frame[1] = 0x80 | 127;
    view.setUint32(2, Math.floor(n / 2 ** 32));
    view.setUint32(6, n >>> 0);
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  frame.set(mask, 2 + lengthBytes);
  let at = headerBytes;
  for (const part of parts) {
    frame.set(part, at);
    at += part.byteLength;
  }
  const words = Math.floor(n / 4);
  const payloadOffset = pad + headerBytes;
  // The mask as one word in the platform's byte order, so each word XORs with the 4 mask bytes.
  const maskWord = new Uint32Array(mask.buffer)[0];
  const asWords = new Uint32Array(whole.buffer, payloadOffset, words);
  for (let i = 0; i < words; i++) asWords[i] ^= maskWord;
  for (let i = words * 4; i < n; i++) frame[headerBytes + i] ^= mask[i & 3];
  return frame;
}

const newBuffer = (bytes: number) => new Uint8Array(bytes);

export function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let total = 0;
  for (const p of parts) total += p.byteLength;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

export function indexOfHeaderEnd(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.byteLength; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}
