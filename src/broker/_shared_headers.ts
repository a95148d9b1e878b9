/**
 * What a stored message keeps of its optional fields, shared where equal. Its headers: one frozen
 * object shared by every message whose headers are the same names and values in the same order,
 * among the last few sets seen (`storedHeaders`); its headers, group and subject together: the
 * object made for the message before when they are the same (`storedExtras`). Messages of one
 * publisher mostly carry the same headers (every MQTT message `mqtt-payload` and `mqtt-qos`), and
 * a stored message used to keep its own copy: an object per message that lived as long as the
 * message (every collection traced it) on every node. Sharing is safe because stored headers are
 * never changed (frozen, so a change would throw instead of reaching other messages), and equal
 * values are equal state: answers and snapshots are byte for byte what they were. Folder-private.
 *
 * @module
 */

import type { MsgExtras } from "./_msg_blocks.ts";

type Headers = Readonly<Record<string, string>>;

/** How many header sets are kept for sharing, the oldest replaced first. */
const SETS = 8;
/** Headers with more names are copied, not shared (a long compare for a rare case). */
const NAMES_MAX = 8;

interface SharedSet {
  readonly names: string[];
  readonly values: string[];
  readonly headers: Headers;
}

const sets: (SharedSet | undefined)[] = new Array(SETS).fill(undefined);
let next = 0;

/**
 * A stored message's headers for `headers` as published: undefined when it has none, else a
 * frozen object with the same names and values in the same order (shared, or a fresh one).
 */
export function storedHeaders(headers: Headers | undefined): Headers | undefined {
  if (headers === undefined) return undefined;
  let count = 0;
  for (const name in headers) {
    if (Object.hasOwn(headers, name)) count++;
  }
  if (count === 0) return undefined;
  if (count > NAMES_MAX) return Object.freeze({ ...headers });
  for (let s = 0; s < SETS; s++) {
    const set = sets[s];
    if (set !== undefined && set.names.length === count && sameHeaders(set, headers)) {
      return set.headers;
    }
  }
  const copy = Object.freeze({ ...headers });
  const names = Object.keys(copy);
  sets[next] = { names, values: names.map((n) => copy[n]), headers: copy };
  next = (next + 1) % SETS;
  return copy;
}

/** Whether `headers` has `set`'s names, in its order, with its values (count checked before). */
function sameHeaders(set: SharedSet, headers: Headers): boolean {
  let i = 0;
  for (const name in headers) {
    if (!Object.hasOwn(headers, name)) continue;
    if (set.names[i] !== name || set.values[i] !== headers[name]) return false;
    i++;
  }
  return true;
}

/** The extras `storedExtras` gave last: the next message with the same fields shares it. */
let lastExtras: MsgExtras | undefined;

/**
 * A message's optional fields as one object, or undefined when it has none: the one made for the
 * message before when its fields are the same values (every topic message a subscription gets,
 * and a publisher's run of messages with the same subject and headers), so a stored message
 * mostly costs its map entry alone. Never changed once made, so sharing it changes nothing else.
 */
export function storedExtras(m: MsgExtras): MsgExtras | undefined {
  return storedExtraFields(m.headers, m.group, m.subject);
}

/** `storedExtras` field by field (a publish has no object of them). */
export function storedExtraFields(
  headers: Headers | undefined,
  group: string | undefined,
  subject: string | undefined,
): MsgExtras | undefined {
  if (headers === undefined && group === undefined && subject === undefined) return undefined;
  const last = lastExtras;
  if (
    last !== undefined && last.headers === headers && last.group === group &&
    last.subject === subject
  ) {
    return last;
  }
  return lastExtras = Object.freeze({ headers, group, subject });
}
