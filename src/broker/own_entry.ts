/**
 * The leader's own entries, applied without decoding them. A leader encodes each entry it
 * proposes (`encodeEntry`), and on apply every node decodes it (`decodeEntry`): the leader
 * decoded bytes it had just made from objects it still held (~0.8 µs and ~400 bytes of garbage
 * per message of a stream publish). `ownEntry` gives, from the proposals themselves, the
 * `DecodedEntry` that `decodeEntry` reads from those bytes, so the leader applies exactly what
 * every follower decodes.
 *
 * Exactly: msgpack (msgpackr, as `envelope.ts` packs) gives back every value of a proposal as it
 * was, but for a few. `ownEntry` refuses a run holding any of them (the leader then decodes, as
 * before), so it never answers an entry that would decode otherwise:
 * - a key `__proto__` (msgpackr's reader renames it `__proto_`; JSON.parse makes such keys);
 * - a string (value or key) that is not well-formed UTF-16 (a lone surrogate: its UTF-8 is not
 *   read back as it was);
 * - `-0` (packed as the integer 0), `undefined`, a bigint, a function, a symbol;
 * - an object that is not a plain object, an array or a `Uint8Array` (a Map, a Date, a class:
 *   read back as something else), and nesting deeper than `DEPTH_MAX`.
 * msgpackr packs an object's own enumerable keys, as this walk reads them. Proposals are data the
 * HTTP layer builds (literals and JSON.parse: plain data properties only), and nothing
 * changes them once proposed (apply reads them, as it reads a decoded entry): the kept objects
 * are what the bytes say until they are applied. `own_entry_test.ts` applies the same runs both
 * ways and compares the results and the whole state; the simulator's proposing node applies its
 * own entries this way while the others decode (`test/sim/broker/broker_app.ts`).
 *
 * @module
 */

import type { Envelope, Proposal } from "./commands.ts";
import type { DecodedEntry, PackedProposal, Stamp } from "./envelope.ts";
import { packedPlain } from "./_plain_pack.ts";

/** Deeper than this, a run is decoded (no proposal nests this deep; the bound keeps the walk short). */
const DEPTH_MAX = 32;

/**
 * What `decodeEntry(encodeEntry(stamp, run))` gives, made of the run's own objects, or
 * undefined when a value would not read back as it is (see the module doc).
 */
export function ownEntry(stamp: Stamp, run: readonly PackedProposal[]): DecodedEntry | undefined {
  if (run.length === 0 || !keepsItsValue(stamp, 0)) return undefined;
  // A proposal packed by hand was checked as it was packed (`_plain_pack.ts`): not walked again.
  for (const p of run) {
    if (!packedPlain(p.bytes) && !keepsItsValue(p.proposal, 0)) return undefined;
  }
  if (run.length === 1) {
    // A lone proposal is a version-1 envelope: the stamp's keys, then the proposal's.
    const envelope = { ...stamp, ...run[0].proposal } as Envelope;
    // `decodeEnvelope` refuses these; the leader decodes and refuses them as every node does.
    if (typeof envelope.ts !== "number" || !hasOp(envelope.cmd)) return undefined;
    return { stamp: envelope, batch: false, items: [envelope] };
  }
  const head: Stamp = stamp.wallClock === true
    ? { ts: stamp.ts, wallClock: true }
    : { ts: stamp.ts };
  if (typeof head.ts !== "number") return undefined;
  const items = run.map((p) => hasOp(p.proposal.cmd) ? p.proposal : undefined);
  return { stamp: head, batch: true, items };
}

function hasOp(cmd: unknown): cmd is Proposal["cmd"] {
  return typeof cmd === "object" && cmd !== null &&
    typeof (cmd as { op?: unknown }).op === "string";
}

/** Whether msgpack gives `value` back as it is (see the module doc). */
export function keepsItsValue(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
      return value.isWellFormed();
    case "number":
      return !Object.is(value, -0);
    case "boolean":
      return true;
    case "object": {
      if (value === null) return true;
      if (depth >= DEPTH_MAX) return false;
      const proto = Object.getPrototypeOf(value);
      if (proto === Uint8Array.prototype) return true;
      if (proto === Array.prototype) {
        const list = value as readonly unknown[];
        for (let i = 0; i < list.length; i++) {
          const item = list[i];
          if (item === undefined || !keepsItsValue(item, depth + 1)) return false;
        }
        return true;
      }
      if (proto !== Object.prototype) return false;
      const record = value as Readonly<Record<string, unknown>>;
      for (const key in record) {
        if (key === "__proto__" || !key.isWellFormed() || !Object.hasOwn(record, key)) return false;
        const item = record[key];
        if (item === undefined || !keepsItsValue(item, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
