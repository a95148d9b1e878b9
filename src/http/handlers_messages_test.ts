import assert from "node:assert/strict";
import { validate } from "./body.ts";
import { validatePublish } from "./handlers_messages.ts";
import { ProblemError } from "./problems.ts";
import { publishSchema } from "./schemas.ts";

/** The value, or the problem (type, detail, extras) a validation throws. */
function outcome(f: () => unknown) {
  try {
    return { value: f() };
  } catch (error) {
    assert.ok(error instanceof ProblemError, String(error));
    return { type: error.problemType, detail: error.detail, extras: error.extras };
  }
}

Deno.test("validatePublish reads every body as publishSchema does: same value, same problem", () => {
  const bodies: unknown[] = [
    { messages: [{ body: 1 }, { body: "x", id: "a", delayMs: 5 }] },
    { messages: [{ body: 1 }], extra: true },
    { messages: [{ body: 1 }, { delayMs: -1 }] },
    { messages: [] },
    { messages: "no" },
    { messages: [{ body: 1 }], body: 2 },
    { body: { messages: [] } },
    { body: 1, subject: "a.b", headers: { k: "v" } },
    { id: "x" },
    [{ body: 1 }],
    null,
    "text",
    undefined,
  ];
  for (const body of bodies) {
    assert.deepEqual(
      outcome(() => validatePublish(body)),
      outcome(() => validate(publishSchema, body, "body")),
      JSON.stringify(body),
    );
  }
});
