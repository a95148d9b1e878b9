import assert from "node:assert/strict";
import fc from "fast-check";
import { isPlainApiPath } from "./listener.ts";

Deno.test("isPlainApiPath: a path it passes is an API path after a URL parse too", () => {
  const segment = fc.stringMatching(/^[a-z.%\\/?#2eE]{0,6}$/);
  fc.assert(
    fc.property(fc.array(segment, { maxLength: 5 }), fc.boolean(), (parts, api) => {
      const url = `http://host:1234${api ? "/v1/" : "/"}${parts.join("/")}`;
      if (isPlainApiPath(url)) assert.ok(new URL(url).pathname.startsWith("/v1/"), url);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("isPlainApiPath: what it passes and what it leaves to the URL parse", () => {
  assert.equal(isPlainApiPath("http://h/v1/queues/q/messages"), true);
  assert.equal(isPlainApiPath("https://h:1/v1/queues/q/messages?x=1"), true);
  assert.equal(isPlainApiPath("http://h/v1/queues/q.a/messages"), false);
  assert.equal(isPlainApiPath("http://h/v1/../cluster/v1/link"), false);
  assert.equal(isPlainApiPath("http://h/v1/%2e%2e/ui"), false);
  assert.equal(isPlainApiPath("http://h/v1\\..\\ui"), false);
  assert.equal(isPlainApiPath("http://h/ui/"), false);
  assert.equal(isPlainApiPath("http://h/cluster/v1/forward"), false);
  assert.equal(isPlainApiPath("http://h/v1"), false);
});
