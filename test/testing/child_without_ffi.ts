/**
 * Runs a script in a child process with `--allow-read --allow-env` only (no `--allow-ffi`, as
 * `deno task start` runs a node: no native addon can load there), hands it `bytes` as base64 on
 * its stdin and answers its stdout. For the tests that hold a decode to the same value with and
 * without ffi.
 *
 * @module
 */

import assert from "node:assert/strict";

/** The stdout of `script args...` run without ffi, given `bytes` (base64) on stdin. */
export async function runWithoutFfi(
  script: string,
  args: readonly string[],
  bytes: Uint8Array,
): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", script, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let b64 = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    b64 += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(btoa(b64)));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}
