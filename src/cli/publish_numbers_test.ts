/**
 * The CLI's bodies: JSON whose number a double would change is refused, not sent as another
 * number (test/sim/FINDINGS.md, 17). Its value is what the server gets, so only the CLI, which
 * holds the text, can tell.
 */

import assert from "node:assert/strict";
import { parseBody } from "./commands.ts";
import { UsageError } from "./command.ts";

Deno.test("a body with an integer past what a double holds, or 1e400, is refused", () => {
  for (const text of ['{"amount":12345678901234567890}', "1e400", "[9007199254740993]"]) {
    assert.throws(() => parseBody(text, false), (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match(e.message, /cannot carry exactly/);
      return true;
    });
    assert.equal(parseBody(text, true), text, "--raw sends the text");
  }
});

Deno.test("other bodies parse as before", () => {
  assert.deepEqual(parseBody('{"a":1,"b":[1.5,"x"]}', false), { a: 1, b: [1.5, "x"] });
  assert.equal(parseBody("1152921504606847000", false), 2 ** 60);
  assert.equal(parseBody("hello", false), "hello");
  assert.equal(parseBody('"12345678901234567890"', false), "12345678901234567890");
});
