/**
 * A child process for `forward_frames_permissions_test.ts`: run without
 * `--allow-ffi`, as `deno task start` runs a node (where msgpackr could never load its native
 * string extractor). Reads base64 on stdin and decodes it as the path named by the first
 * argument (`forward`, `transport` or `client`); prints `{ native, value }` as JSON
 * (bytes as arrays), `native` being msgpackr's `isNativeAccelerationEnabled`.
 *
 * @module
 */

import * as msgpackr from "msgpackr";
import { decodeFrame } from "../../cluster/transport/mod.ts";
import { unpackValue } from "../client/mod.ts";
import { decodeForwardRequest } from "./forward_frames.ts";

const decoders: Record<string, (bytes: Uint8Array) => unknown> = {
  forward: decodeForwardRequest,
  transport: decodeFrame,
  client: unpackValue,
};

const chunks: Uint8Array[] = [];
for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
const text = new TextDecoder().decode(
  chunks.length === 1 ? chunks[0] : new Uint8Array(chunks.flatMap((c) => [...c])),
);
const bytes = Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0));
const value = decoders[Deno.args[0]](bytes);
const native = (msgpackr as Record<string, unknown>).isNativeAccelerationEnabled;
console.log(JSON.stringify({ native, value }, (_k, v) => v instanceof Uint8Array ? [...v] : v));
