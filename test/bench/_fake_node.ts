/**
 * The socket side of a fake node for the client benches (client_cpu_bench, client_consume_bench):
 * it opens on the next turn, speaks the stream's frames (a version byte, then msgpack), and
 * closes; a bench's node says what it answers in `send`.
 *
 * @module
 */

import { Packr } from "msgpackr";
import type { StreamSocket } from "../../src/client/mod.ts";

/** The stream's msgpack settings (src/http/stream_frames.ts). */
export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** A node that answers frames the client sends; subclasses decide how. */
export abstract class FakeNodeSocket implements StreamSocket {
  binaryType = "arraybuffer";
  readyState = 0;
  onopen: ((ev: never) => void) | null = null;
  onmessage: ((ev: { readonly data: unknown }) => void) | null = null;
  onclose: ((ev: { readonly code: number; readonly reason: string }) => void) | null = null;
  onerror: ((ev: never) => void) | null = null;

  constructor() {
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.(undefined as never);
    }, 0);
  }

  abstract send(data: Uint8Array): void;

  /** Hands the client `frame` (one frame or a batch of them) as the node would. */
  protected deliver(frame: unknown): void {
    const body = packr.pack(frame);
    const bytes = new Uint8Array(1 + body.length);
    bytes[0] = 1;
    bytes.set(body, 1);
    this.onmessage?.({ data: bytes.buffer });
  }

  close(code = 1000, reason = ""): void {
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}
