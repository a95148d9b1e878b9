/**
 * One MQTT connection's bytes: packets in through `mqtt-packet`'s parser (with a bound on the
 * packet size), packets out through its generator, written in order. A whole PUBLISH without
 * properties is read, and a plain acknowledgement written, without it (`fast_packets.ts`).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import mqtt from "mqtt-packet";
import type { IPublishPacket, Packet } from "mqtt-packet";
import { ACK_FIRST_BYTE, ackBytes, packetEnd, publishAt } from "./fast_packets.ts";
import { keepUserOrder, orderedPublish, USER_PAIRS, type UserPairs } from "./user_order.ts";

/** Why the parser gave up on the stream. */
export type WireError = { kind: "malformed" | "oversized" | "bad_protocol"; detail: string };

export interface WireHandlers {
  packet(p: Packet): void;
  /**
   * Every packet of one read has been handed to `packet` (what arrived together). A promise: the
   * connection holds a bounded backlog, and the socket is read again once it resolves.
   */
  read(): void | Promise<void>;
  error(e: WireError): void;
}

/** The bytes of one client: a TCP connection or a WebSocket (`ws_stream.ts`). */
export interface ByteStream {
  /** Bytes read into `buf`, or null at the end. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Bytes written. */
  write(bytes: Uint8Array): Promise<number>;
  /** `goingAway`: the server is shutting down (a WebSocket closes with 1001, not 1005). */
  close(goingAway?: boolean): void;
  /** The peer's address, for log lines. */
  readonly remote: string;
}

/** The buffer a turn's plain acknowledgements are written into (64 of 4 bytes), then another. */
const ACKS_BUFFER_BYTES = 256;

/** A TCP connection as a `ByteStream`. */
export function tcpStream(conn: Deno.Conn): ByteStream {
  // Through the TLS front (a Unix socket) the client's address is the front's business.
  const a = conn.remoteAddr.transport === "unix"
    ? { hostname: "tls", port: 0 }
    : conn.remoteAddr as Deno.NetAddr;
  return {
    read: (buf) => conn.read(buf),
    write: (bytes) => conn.write(bytes),
    close: () => conn.close(),
    remote: `${a.hostname}:${a.port}`,
  };
}

/**
 * What this module reads of `mqtt-packet`'s parser beyond its typings: the CONNECT it read (its
 * protocol version), the bytes it holds and its state (0: at the start of a packet).
 */
interface ParserInside {
  readonly settings?: { readonly protocolVersion?: number };
  readonly _list?: { readonly length: number };
  readonly _stateCounter?: number;
}

/** Reads packets from `conn` until it closes or a packet is refused. */
export class Wire {
  readonly #conn: ByteStream;
  readonly #maxPacketBytes: number;
  #version = 4;
  #out: Promise<void> = Promise.resolve();
  #pending: Uint8Array[] = [];
  /** Plain acknowledgements written since the last packet of `#pending` (`sendAck`). */
  #acks: Uint8Array | undefined;
  #acksLength = 0;
  #writing = false;
  #closed = false;

  constructor(conn: ByteStream, maxPacketBytes: number) {
    this.#conn = conn;
    this.#maxPacketBytes = maxPacketBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The protocol version packets are written in (from the CONNECT). */
  set version(v: number) {
    this.#version = v;
  }

  /** Reads until the peer closes, `close()` is called, or the stream is refused. */
  async read(h: WireHandlers): Promise<void> {
    const parser = mqtt.parser({});
    keepUserOrder(parser); // a PUBLISH's user properties as they came (MQTT 5 3.3.2.3.7)
    let failed = false;
    const fail = (e: WireError) => {
      if (failed) return;
      failed = true;
      h.error(e);
    };
    const packet = (p: Packet) => {
      if (failed) return;
      if ((p.length ?? 0) > this.#maxPacketBytes) {
        return fail({ kind: "oversized", detail: `a ${p.cmd} of ${p.length} bytes` });
      }
      h.packet(p);
    };
    parser.on("packet", packet);
    parser.on("error", (e: Error) => {
      // An unknown level is answered (CONNACK 1); an unknown protocol name is only closed.
      const bad = /protocol version/i.test(e.message);
      fail({ kind: bad ? "bad_protocol" : "malformed", detail: e.message });
    });
    const buf = new Uint8Array(64 * 1024);
    const inside = parser as unknown as ParserInside;
    let lastTopic: string | undefined;
    // The bytes the parser still lacks of the packet it holds (0: it holds none).
    let owed = 0;
    // The start of a packet whose fixed header is not whole yet (held here, not by the parser).
    let head: Uint8Array | undefined;
    while (!failed && !this.#closed) {
      let n: number | null;
      try {
        n = await this.#conn.read(buf);
      } catch {
        break;
      }
      if (n === null) break;
      // A copy: the parser keeps what it has not read yet, the packets keep their payloads.
      const bytes = head === undefined
        ? Buffer.from(buf.slice(0, n).buffer) // a native copy (Buffer.from(view) is slower)
        : Buffer.concat([head, buf.subarray(0, n)]);
      head = undefined;
      n = bytes.length;
      let at = 0;
      if (owed > 0) {
        at = Math.min(owed, n);
        owed -= at;
        parser.parse(at === n ? bytes : bytes.subarray(0, at));
      }
      // Packet by packet: a whole PUBLISH without properties is read here (`publishAt`), once
      // the parser has read the CONNECT (its version); any other packet, and one not whole in
      // this read, goes to the parser, whole or as far as it came, in order.
      for (let i = 0; at < n && !failed && i < n; i++) {
        const end = packetEnd(bytes, at);
        if (end === "short") {
          head = bytes.slice(at);
          break;
        }
        if (end === "bad" || end > n) {
          if (end !== "bad") owed = end - n;
          parser.parse(bytes.subarray(at));
          break;
        }
        const version = inside.settings?.protocolVersion;
        const fast = version === undefined ? undefined : publishAt(bytes, at, version, lastTopic);
        if (fast !== undefined) {
          lastTopic = fast.packet.topic;
          packet(fast.packet);
        } else parser.parse(bytes.subarray(at, end));
        at = end;
      }
      if (!failed) await h.read();
      // The parser buffers a packet until it is whole: refuse one bigger than the bound early.
      const pending = inside._list?.length ?? 0;
      if (pending > this.#maxPacketBytes + 5) {
        fail({ kind: "oversized", detail: `more than ${this.#maxPacketBytes} bytes in a packet` });
      }
    }
  }

  /**
   * Queues a packet; packets queued in the same turn, or while a write is in progress, go out
   * together in the next write (a batch's PUBACKs in one syscall, not one each).
   */
  send(p: Packet): Promise<void> {
    if (this.#closed) return this.#out;
    this.#sealAcks();
    // User properties in the order they came (`user_order.ts`), which `mqtt-packet` cannot keep.
    const pairs = p.cmd === "publish" && this.#version === 5
      ? (p.properties as Record<symbol, UserPairs | undefined> | undefined)?.[USER_PAIRS]
      : undefined;
    this.#pending.push(
      pairs !== undefined
        ? orderedPublish(p as IPublishPacket, pairs)
        : ackBytes(p, this.#version) ?? mqtt.generate(p, { protocolVersion: this.#version }),
    );
    return this.#kick();
  }

  /**
   * Queues a PUBACK, PUBREC or PUBCOMP as `send` would (the same bytes, in order with the other
   * packets): a plain one (v3.1.1, or v5 reason 0, which is then left out) is written straight
   * into a buffer shared by the acknowledgements of a turn, with no packet object and no buffer
   * each (~0.6 µs an acknowledgement in process, most of the gateway's own cost per QoS 1
   * message); a v5 one with another reason goes through `send`.
   */
  sendAck(cmd: "puback" | "pubrec" | "pubcomp", messageId: number, reasonCode: number): void {
    if (this.#closed) return;
    if (this.#version === 5 && reasonCode !== 0) {
      void this.send({ cmd, messageId, reasonCode } as Packet);
      return;
    }
    let acks = this.#acks;
    if (acks === undefined || this.#acksLength + 4 > acks.length) {
      this.#sealAcks();
      acks = this.#acks = new Uint8Array(ACKS_BUFFER_BYTES);
    }
    const at = this.#acksLength;
    acks[at] = ACK_FIRST_BYTE[cmd];
    acks[at + 1] = 2;
    acks[at + 2] = (messageId >> 8) & 0xff;
    acks[at + 3] = messageId & 0xff;
    this.#acksLength = at + 4;
    void this.#kick();
  }

  /** The acknowledgements written so far go to `#pending` (before a packet, or to be written). */
  #sealAcks(): void {
    if (this.#acksLength > 0) this.#pending.push(this.#acks!.subarray(0, this.#acksLength));
    // A view of the buffer is pending now: later acknowledgements go into a new one.
    this.#acks = undefined;
    this.#acksLength = 0;
  }

  /** Starts writing what is pending, unless a write is in progress (it takes it next). */
  #kick(): Promise<void> {
    if (!this.#writing) {
      this.#writing = true;
      this.#out = this.#flush().catch(() => this.close());
    }
    return this.#out;
  }

  async #flush(): Promise<void> {
    try {
      // The first write waits for the rest of this turn's packets (one microtask).
      await Promise.resolve();
      this.#sealAcks();
      for (let i = 0; this.#pending.length > 0 && !this.#closed && i < 1_000_000; i++) {
        // One packet (or one run of acknowledgements) is written as it is, without a copy.
        const bytes = this.#pending.length === 1
          ? this.#pending.pop()!
          : Buffer.concat(this.#pending.splice(0));
        let off = 0;
        while (off < bytes.length && !this.#closed) {
          off += await this.#conn.write(bytes.subarray(off));
        }
        this.#sealAcks();
      }
    } finally {
      // In the same step as the loop's last look at `#pending`: a packet queued after it starts
      // a new flush (cleared in a later `finally` callback, it was left pending for good).
      this.#writing = false;
    }
  }

  /** Resolves once what was sent so far is written (or the connection closed). */
  written(): Promise<void> {
    return this.#out;
  }

  /** Closes after what was sent so far is written. */
  async end(): Promise<void> {
    await this.#out;
    this.close();
  }

  /** The server is shutting down: the close says so where the transport can (WebSocket 1001). */
  goingAway = false;

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close(this.goingAway);
    } catch {
      // Already closed by the peer.
    }
  }
}
