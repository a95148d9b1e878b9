import assert from "node:assert/strict";
import { createLogger, isLogLevel } from "./log.ts";

function collect(level: "debug" | "info" | "warn" | "error") {
  const lines: string[] = [];
  let term = 3;
  const logger = createLogger({
    level,
    node: "n2",
    term: () => term,
    write: (line) => lines.push(line),
    nowMs: () => 0,
  });
  return { lines, logger, setTerm: (t: number) => (term = t) };
}

Deno.test("createLogger() writes one JSON line with time, level, node, term, event, details", () => {
  const { lines, logger } = collect("info");
  logger.info("leader_changed", { leaderId: "n1" });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("\n"));
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "1970-01-01T00:00:00.000Z",
    level: "info",
    node: "n2",
    term: 3,
    event: "leader_changed",
    leaderId: "n1",
  });
});

Deno.test("createLogger() drops events below its level", () => {
  const { lines, logger } = collect("warn");
  logger.debug("a");
  logger.info("b");
  logger.warn("c");
  logger.error("d");
  assert.deepEqual(lines.map((l) => JSON.parse(l).event), ["c", "d"]);
  assert.equal(logger.enabled("info"), false);
  assert.equal(logger.enabled("error"), true);
});

Deno.test("createLogger() reads the term at each event", () => {
  const { lines, logger, setTerm } = collect("info");
  logger.info("a");
  setTerm(9);
  logger.info("b");
  assert.deepEqual(lines.map((l) => JSON.parse(l).term), [3, 9]);
});

Deno.test("createLogger() expands Errors, survives cycles, and keeps fixed fields", () => {
  const { lines, logger } = collect("debug");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  logger.error("bug", { error: new Error("boom"), cyclic, level: "debug", big: 10n });
  const line = JSON.parse(lines[0]);
  assert.equal(line.level, "error");
  assert.equal(line.error.message, "boom");
  assert.match(line.error.stack, /boom/);
  assert.equal(line.cyclic.self, "[circular]");
  assert.equal(line.big, "10");
});

Deno.test("isLogLevel() accepts the four levels only", () => {
  assert.ok(isLogLevel("debug") && isLogLevel("error"));
  assert.equal(isLogLevel("trace"), false);
});
