import assert from "node:assert/strict";
import type { ProblemCode } from "../broker/mod.ts";
import { ERROR_CLASSES, errorFromProblem } from "../client/mod.ts";
import { BROKER_REASON_PROBLEMS, failureProblem, PROBLEMS, type ProblemType } from "./problems.ts";
import { publishJson, singlePublish } from "./render.ts";

/** Every reason the broker can refuse a command with (the compiler keeps this list complete). */
const REASONS = Object.keys(BROKER_REASON_PROBLEMS) as ProblemCode[];

/** `queue_not_found` -> `QueueNotFound`: the client's naming rule for error classes. */
const className = (type: string) =>
  type.split("_").map((w) => w[0].toUpperCase() + w.slice(1)).join("");

Deno.test("every broker reason becomes a registry problem type, the same way on every path", () => {
  for (const reason of REASONS) {
    const type = BROKER_REASON_PROBLEMS[reason];
    assert.ok(Object.hasOwn(PROBLEMS, type), `${reason} -> ${type} is not in the registry`);
    const failure = { ok: false, reason, detail: "d" } as const;
    assert.equal(failureProblem(failure).problemType, type);
    assert.deepEqual(publishJson(failure), { error: { type, detail: "d" } });
    assert.throws(
      () => singlePublish(failure),
      (e) => (e as { problemType: string }).problemType === type,
    );
  }
  assert.equal(BROKER_REASON_PROBLEMS.transaction_aborted, "transaction_failed");
});

Deno.test("every registry problem type has its own client error class, and only those", () => {
  for (const type of Object.keys(PROBLEMS) as ProblemType[]) {
    const Class = ERROR_CLASSES[type];
    assert.ok(Class !== undefined, `no client class for ${type}`);
    assert.equal(Class.name, className(type));
    const error = errorFromProblem({ type }, PROBLEMS[type].status);
    assert.ok(error instanceof Class);
  }
  const clientOnly = Object.keys(ERROR_CLASSES).filter((t) => !Object.hasOwn(PROBLEMS, t));
  assert.deepEqual(
    clientOnly,
    ["network_error"],
    "a client class for a type the server never sends",
  );
});
