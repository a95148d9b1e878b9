/**
 * Raw HTTP helpers for the end-to-end tests: one call, its status, headers and parsed body,
 * bounded by a timeout so a stuck node fails the test instead of hanging it.
 *
 * @module
 */

import assert from "node:assert/strict";

/** One answer: status, headers and the body (parsed when it is JSON, else the text). */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  // deno-lint-ignore no-explicit-any
  readonly body: any;
  readonly text: string;
}

/** Options of `call`. */
export interface CallInit {
  /** A JSON value to send; a string is sent as it is (for malformed bodies). */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** Sends one request to `base + path` and reads the whole answer. */
export async function call(
  base: string,
  method: string,
  path: string,
  init: CallInit = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  const type = res.headers.get("content-type") ?? "";
  const parsed = type.includes("json") && text !== "" ? JSON.parse(text) : text;
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Asserts a problem+json answer with this status and type; returns the problem. */
// deno-lint-ignore no-explicit-any
export function assertProblem(answer: Answer, status: number, type: string): any {
  assert.equal(
    answer.status,
    status,
    `expected ${status} ${type}, got ${answer.status}: ${answer.text}`,
  );
  assert.match(answer.headers.get("content-type") ?? "", /^application\/problem\+json/);
  assert.equal(answer.body.type, type, answer.text);
  assert.equal(answer.body.status, status);
  assert.equal(typeof answer.body.title, "string");
  return answer.body;
}

/** Asserts a 2xx JSON answer with exactly this status. */
export function assertStatus(answer: Answer, status: number): void {
  assert.equal(answer.status, status, `expected ${status}, got ${answer.status}: ${answer.text}`);
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or throws. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what} (last error: ${last})`);
}
