/**
 * A child process for `src/broker/entry_decode_permissions_test.ts` (here, not in src/broker: the broker does no I/O). Run without `--allow-ffi`, as
 * `deno task start` runs a node, msgpackr cannot load its native string extractor and reads
 * strings in JavaScript: what the broker leaves to msgpackr is then read that way. Reads base64
 * on stdin; `entry` (the default): decodes it as an entry (`decodeEntry`) and prints its items
 * as JSON (`{"refused": message}` when it refuses the entry); `snapshot`: restores it as a snapshot and prints the restored state's snapshot bytes
 * as base64.
 *
 * @module
 */

import { decodeEntry, restoreSnapshot, snapshotBytes } from "../../src/broker/mod.ts";

const chunks: Uint8Array[] = [];
for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
const text = new TextDecoder().decode(
  chunks.length === 1 ? chunks[0] : new Uint8Array(chunks.flatMap((c) => [...c])),
);
const bytes = Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
if (Deno.args[0] === "snapshot") {
  const again = snapshotBytes(restoreSnapshot(bytes));
  let s = "";
  for (let i = 0; i < again.length; i += 4096) {
    s += String.fromCharCode(...again.subarray(i, i + 4096));
  }
  console.log(btoa(s));
} else {
  let items: unknown;
  try {
    items = decodeEntry(bytes).items;
  } catch (e) {
    items = { refused: (e as Error).message };
  }
  console.log(JSON.stringify(items, (_k, v) => v instanceof Uint8Array ? [...v] : v));
}
