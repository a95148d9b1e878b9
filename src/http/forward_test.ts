import assert from "node:assert/strict";
import fc from "fast-check";
import { type ForwardedRequest, forwardToLeader } from "./forward.ts";
import { ProblemError } from "./problems.ts";

const request = () =>
  new Request("http://follower/v1/queues/q/messages", { method: "POST", body: "{}" });

/** What the forward's signal says when `leaderFetch` waits on it: the problem and its detail. */
async function failed(timeoutMs: number, cut?: AbortSignal): Promise<string> {
  try {
    await forwardToLeader({
      request: request(),
      bodyBytes: new Uint8Array(0),
      leaderUrl: "http://leader",
      nodeId: "n2",
      timeoutMs,
      ...(cut ? { cut } : {}),
      leaderFetch: (r: ForwardedRequest) =>
        new Promise((_, reject) => {
          if (r.signal.aborted) reject(r.signal.reason);
          r.signal.addEventListener("abort", () => reject(r.signal.reason), { once: true });
        }),
    });
    return "answered";
  } catch (error) {
    assert.ok(error instanceof ProblemError);
    return `${error.problemType}: ${error.detail}`;
  }
}

// The reasons `AbortSignal.timeout` / `AbortSignal.any` gave, which the details name.
Deno.test("a forward's deadline and its cut abort it, each with its reason", async () => {
  assert.match(
    await failed(20),
    /^unknown_outcome: .*TimeoutError: The operation was aborted due to timeout/,
  );
  const cut = new AbortController();
  const pending = failed(60_000, cut.signal);
  cut.abort(new Error("draining"));
  assert.match(await pending, /^unknown_outcome: .*Error: draining/);
  const early = new AbortController();
  early.abort(new Error("drained already"));
  assert.match(await failed(60_000, early.signal), /^unknown_outcome: .*drained already/);
});

Deno.test("forwards on the shared timer: each times out at its own deadline, answered ones never", async () => {
  // Forwards answered at once, ones that time out (in a shuffled order of deadlines) and one cut,
  // all pending together; the test's timer sanitizer checks that no timer outlives them.
  const answered = (timeoutMs: number) =>
    forwardToLeader({
      request: request(),
      bodyBytes: new Uint8Array(0),
      leaderUrl: "http://leader",
      nodeId: "n2",
      timeoutMs,
      leaderFetch: async (r: ForwardedRequest) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        assert.equal(r.signal.aborted, false);
        return { status: 201, headers: [], body: new Uint8Array(0) };
      },
    }).then((res) => String(res.status));
  const cut = new AbortController();
  const outcomes = await Promise.all([
    failed(80),
    answered(60_000),
    failed(30),
    answered(20),
    failed(60_000, cut.signal),
    failed(50),
    answered(60_000),
    (async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      cut.abort(new Error("draining"));
      return "cut";
    })(),
  ]);
  const timeout = /^unknown_outcome: .*TimeoutError: The operation was aborted due to timeout/;
  for (const i of [0, 2, 5]) assert.match(outcomes[i], timeout);
  assert.deepEqual([outcomes[1], outcomes[3], outcomes[6]], ["201", "201", "201"]);
  assert.match(outcomes[4], /^unknown_outcome: .*Error: draining/);
});

Deno.test("the leader's answer is returned as it is: status, headers but hop-by-hop, body", async () => {
  const cases: [number, [string, string][]][] = [
    [201, [["content-type", "application/json"]]],
    [200, [["content-type", "application/json"]]],
    [409, [["content-type", "application/problem+json"]]],
    [201, [["content-type", "application/json"], ["idempotent-replayed", "true"]]],
    [503, [["content-type", "application/json"], ["retry-after", "1"], ["connection", "close"]]],
  ];
  for (const [status, headers] of cases) {
    const text = `{"seq":1,"id":"é","duplicate":false}`;
    const res = await forwardToLeader({
      request: request(),
      bodyBytes: new TextEncoder().encode("{}"),
      leaderUrl: "http://leader",
      nodeId: "n2",
      timeoutMs: 60_000,
      leaderFetch: () => Promise.resolve({ status, headers, body: new TextEncoder().encode(text) }),
    });
    assert.equal(res.status, status);
    assert.deepEqual([...res.headers], headers.filter(([name]) => name !== "connection"));
    assert.equal(await res.text(), text);
  }
});

Deno.test("a Headers' forEach gives the pairs for..of gives, in its order (property)", () => {
  const name = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
  const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/);
  fc.assert(
    fc.property(fc.array(fc.tuple(name, value), { maxLength: 20 }), (pairs) => {
      const headers = new Headers();
      for (const [n, v] of pairs) headers.append(n, v);
      const byEach: [string, string][] = [];
      headers.forEach((v, n) => byEach.push([n, v]));
      assert.deepEqual(byEach, [...headers]);
    }),
    { numRuns: 500 },
  );
});
