/**
 * A child process for `entry_decode_permissions_test.ts`: decodes the entry given as base64 on
 * stdin (`decodeEntry`) and prints its items as JSON. Run without `--allow-ffi`, as
 * `deno task start` runs a node, msgpackr cannot load its native string extractor and reads
 * strings in JavaScript: what the entry reader leaves to msgpackr is then read that way.
 *
 * @module
 */

import { decodeEntry } from "./envelope.ts";

const chunks: Uint8Array[] = [];
for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
const text = new TextDecoder().decode(
  chunks.length === 1 ? chunks[0] : new Uint8Array(chunks.flatMap((c) => [...c])),
);
const bytes = Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
const entry = decodeEntry(bytes);
console.log(JSON.stringify(entry.items, (_k, v) => v instanceof Uint8Array ? [...v] : v));
