/**
 * MQTT 5 user properties in the order they came (3.3.2.3.7: the server keeps their order when it
 * forwards them), names repeated as they came. `mqtt-packet` reads them into an object, which
 * puts names that look like integers ("1", "42") first in ascending order, groups a repeated
 * name's values and drops one after an empty value; a message's headers (an object, and JSON in
 * the broker) reorder them the same way. So:
 * - the parser's PUBLISHes and wills carry their user properties as read (`keepUserOrder`);
 * - a message whose headers cannot give them back as they came (a repeated name, or an order the
 *   headers' own does not keep) carries the list in `REPEATED_HEADER` (`userHeaders`);
 * - a delivery with that list is written with its user properties in its order (`orderedPublish`).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import mqtt from "mqtt-packet";
import type { IPublishPacket } from "mqtt-packet";

/** On a PUBLISH's (or will's) properties: its user properties in order (`UserPairs`). */
export const USER_PAIRS: unique symbol = Symbol("mqtt user properties in order");

/** User properties in order, a name once per time it came. */
export type UserPairs = readonly (readonly [string, string])[];

/** What `keepUserOrder` reaches of `mqtt-packet`'s parser (9.x) beyond its typings. */
interface ParserInside {
  _parseProperties(): unknown;
  _parseStringPair(): { name: string | null; value: string | null };
}

/**
 * Makes each properties object `parser` reads (a PUBLISH's, a CONNECT's, its will's) carry its
 * user properties as read, under `USER_PAIRS`, not enumerable: the packet is still what
 * `mqtt-packet` makes, to a deep comparison too, and a copy of the packet by spread keeps the same
 * properties object.
 */
export function keepUserOrder(parser: unknown): void {
  const p = parser as ParserInside;
  const properties = p._parseProperties;
  const pair = p._parseStringPair;
  if (typeof properties !== "function" || typeof pair !== "function") {
    throw new Error(
      "mqtt-packet's parser has no _parseProperties/_parseStringPair (user_order.ts)",
    );
  }
  // The pairs of the properties being read (made at the first one: most have none).
  let pairs: [string, string][] | undefined;
  p._parseProperties = function (this: ParserInside) {
    pairs = undefined;
    const result = properties.call(this) as { userProperties?: object } | false;
    const user = result ? result.userProperties : undefined;
    // Only when its object does not give them back as they came (most often it does).
    if (pairs !== undefined && user !== undefined && !inOrder(user, pairs)) {
      Object.defineProperty(result, USER_PAIRS, { value: pairs });
    }
    pairs = undefined;
    return result;
  };
  p._parseStringPair = function (this: ParserInside) {
    const r = pair.call(this);
    if (r.name !== null && r.value !== null) (pairs ??= []).push([r.name, r.value]);
    return r;
  };
}

/** `mqtt-packet`'s object of user properties gives `pairs` back: each name once, in order. */
function inOrder(user: object, pairs: UserPairs): boolean {
  let i = 0;
  for (const name in user) {
    if (pairs[i]?.[0] !== name) return false;
    i++;
  }
  return i === pairs.length;
}

/** The user properties of a PUBLISH's object, in its order (`String` of each value). */
function objectPairs(user: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(user)) {
    for (const one of Array.isArray(v) ? v : [v]) out.push([k, String(one)]);
  }
  return out;
}

/**
 * Adds a PUBLISH's user properties to its message's `headers`, each name once, its values joined
 * with `,` (for HTTP readers); a name in `skip` is not taken, and every header `headers` holds
 * already is one of them (the gateway's own). Answers the properties taken when the headers alone
 * cannot give them back as they came (a name repeated, or an order the headers' own does not
 * keep), else undefined. The parser's order when it kept one (`USER_PAIRS`), else the object's:
 * without an allocation in the common case (each name once, its order kept).
 */
export function userHeaders(
  p: IPublishPacket,
  headers: Record<string, string>,
  skip: ReadonlySet<string>,
): UserPairs | undefined {
  const user = (p.properties?.userProperties ?? {}) as Record<string, unknown>;
  const kept = (p.properties as Record<symbol, UserPairs | undefined> | undefined)?.[USER_PAIRS];
  let plain = true;
  if (kept === undefined) {
    for (const k in user) {
      if (skip.has(k)) continue;
      const v = user[k];
      if (Array.isArray(v)) plain = false;
      headers[k] = Array.isArray(v) ? v.join(",") : String(v);
    }
  } else {
    for (const [k, v] of kept) {
      if (skip.has(k)) continue;
      if (!Object.hasOwn(headers, k)) headers[k] = v;
      else {
        headers[k] += "," + v;
        plain = false;
      }
    }
  }
  const pairs = kept ?? (plain ? undefined : objectPairs(user));
  if (pairs === undefined || (plain && sameOrder(headers, pairs, skip))) return undefined;
  return pairs.filter(([k]) => !skip.has(k));
}

/** The user names of `headers`, in its own order, are those of `pairs` (each once) in theirs. */
function sameOrder(headers: Record<string, string>, pairs: UserPairs, skip: ReadonlySet<string>) {
  let i = 0;
  for (const name in headers) {
    if (skip.has(name)) continue;
    while (i < pairs.length && skip.has(pairs[i][0])) i++;
    if (pairs[i]?.[0] !== name) return false;
    i++;
  }
  while (i < pairs.length && skip.has(pairs[i][0])) i++;
  return i === pairs.length;
}

/**
 * The list of `REPEATED_HEADER` (`[[name, value], ...]`) when it still gives `headers`' user
 * properties (each name's values joined are its header, every user header is in it), else
 * undefined (not a list, or an HTTP publisher changed the headers).
 */
export function pairsOfList(
  json: unknown,
  headers: Record<string, string>,
  skip: ReadonlySet<string>,
): UserPairs | undefined {
  if (!Array.isArray(json)) return undefined;
  const joined = new Map<string, string[]>();
  for (const pair of json) {
    if (!Array.isArray(pair) || pair.length !== 2) return undefined;
    const [k, v] = pair;
    if (typeof k !== "string" || typeof v !== "string") return undefined;
    const vs = joined.get(k);
    if (vs !== undefined) vs.push(v);
    else joined.set(k, [v]);
  }
  for (const [k, vs] of joined) if (headers[k] !== vs.join(",")) return undefined;
  for (const name in headers) if (!skip.has(name) && !joined.has(name)) return undefined;
  return json as UserPairs;
}

/** The UTF-8 bytes of MQTT 5 user property items (0x26, name, value) for `pairs`. */
function pairBytes(pairs: UserPairs): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of pairs) {
    const name = Buffer.from(k, "utf8");
    const value = Buffer.from(v, "utf8");
    const head = Buffer.alloc(3);
    head[0] = 0x26;
    head.writeUInt16BE(name.length, 1);
    const mid = Buffer.alloc(2);
    mid.writeUInt16BE(value.length, 0);
    parts.push(head, name, mid, value);
  }
  return Buffer.concat(parts);
}

/** A variable byte integer (MQTT 1.5.5). */
function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0 && out.length < 4);
  return Buffer.from(out);
}

/** The variable byte integer at `at` of `b`: its value and its length. */
function readVarint(b: Uint8Array, at: number): [number, number] {
  let n = 0;
  for (let i = 0, mul = 1; i < 4; i++, mul *= 128) {
    n += (b[at + i] & 0x7f) * mul;
    if ((b[at + i] & 0x80) === 0) return [n, i + 1];
  }
  return [n, 4];
}

/**
 * A v5 PUBLISH's bytes with its user properties written in the order of `pairs`: `mqtt-packet`
 * writes the others, and the user properties go after them (property order is free; only theirs
 * among themselves counts).
 */
export function orderedPublish(p: IPublishPacket, pairs: UserPairs): Uint8Array {
  const { userProperties: _, ...others } = p.properties ?? {};
  const base = mqtt.generate({ ...p, properties: others }, { protocolVersion: 5 });
  let at = 1 + readVarint(base, 1)[1];
  const start = at;
  at += 2 + ((base[at] << 8) | base[at + 1]); // the topic
  if (p.qos > 0) at += 2; // the packet id
  const [propsLength, n] = readVarint(base, at);
  const propsEnd = at + n + propsLength;
  const user = pairBytes(pairs);
  const length = varint(propsLength + user.length);
  const rest = base.subarray(propsEnd);
  const remaining = at - start + length.length + propsLength + user.length + rest.length;
  return Buffer.concat([
    base.subarray(0, 1),
    varint(remaining),
    base.subarray(start, at),
    length,
    base.subarray(at + n, propsEnd),
    user,
    rest,
  ]);
}
