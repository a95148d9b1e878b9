/**
 * A child process for `stream_frames_permissions_test.ts`: decodes the stream message given as
 * base64 on stdin (`decodeStreamMessage`) and prints the frames as JSON. Run without
 * `--allow-ffi`, as `deno task start` runs a node, msgpackr reads strings in JavaScript.
 *
 * @module
 */

import { decodeStreamMessage } from "./stream_frames.ts";

const chunks: Uint8Array[] = [];
for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
const text = new TextDecoder().decode(
  chunks.length === 1 ? chunks[0] : new Uint8Array(chunks.flatMap((c) => [...c])),
);
const bytes = Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
console.log(JSON.stringify(decodeStreamMessage(bytes)));
