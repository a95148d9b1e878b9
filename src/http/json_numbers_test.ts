/**
 * A JSON request whose numbers a double cannot hold is refused, never stored altered
 * (test/sim/FINDINGS.md, 17): `1e400` was stored as `null`, 12345678901234567890 as
 * 12345678901234567000.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { jsonBodyOfText, rawBodyOfText, readJsonBody } from "./body.ts";
import { ProblemError } from "./problems.ts";

const LIMIT = 1 << 20;

function request(text: string): Request {
  return new Request("http://x/v1/queues/q/messages", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: text,
  });
}

async function refusal(text: string): Promise<string | undefined> {
  const ways = [
    () => readJsonBody(request(text), LIMIT),
    () => Promise.resolve(jsonBodyOfText(text, "application/json", LIMIT)),
    () => Promise.resolve(rawBodyOfText(text, "application/json", LIMIT).parse()),
  ];
  const answers: (string | undefined)[] = [];
  for (const way of ways) {
    try {
      const body = await way();
      // Taken: it must read back as the very text's value (stored as its JSON text).
      if (text.length < 1000) {
        assert.deepEqual(JSON.parse(JSON.stringify(body.json)), JSON.parse(text));
      }
      answers.push(undefined);
    } catch (error) {
      assert.ok(error instanceof ProblemError, String(error));
      assert.equal(error.problemType, "invalid_request");
      answers.push(error.message);
    }
  }
  assert.ok(answers.every((a) => a === answers[0]), `every way reads it alike: ${answers}`);
  return answers[0];
}

Deno.test("an integer a double rounds, or a number out of range, is refused, named", async () => {
  for (
    const [text, named] of [
      ['{"body":{"amount":12345678901234567890}}', "12345678901234567890"],
      ['{"body":1e400}', "1e400"],
      ['{"body":[1,{"x":-1E+999}]}', "-1E+999"],
      ['{"body":9007199254740993}', "9007199254740993"],
      // 2^60 exactly: a double holds it, but its stored text would be 1152921504606847000.
      ['{"body":1152921504606846976}', "1152921504606846976"],
      [
        '{"messages":[{"body":"a"},{"body":{"id":-98765432109876543210}}]}',
        "-98765432109876543210",
      ],
    ]
  ) {
    const detail = await refusal(text);
    assert.ok(detail?.includes(named), `${text}: ${detail}`);
    assert.ok(detail?.includes("send it as a string"), detail);
  }
});

Deno.test("numbers a double holds are taken as they were", async () => {
  for (
    const text of [
      '{"body":9007199254740992}',
      '{"body":-9007199254740991}',
      '{"body":1152921504606847000}',
      '{"body":1e21}',
      '{"body":{"p":1.50,"q":0.1,"s":2.5e-300}}',
      '{"body":"12345678901234567890"}',
      '{"body":[1,2,3],"delayMs":0}',
    ]
  ) assert.equal(await refusal(text), undefined, text);
});

Deno.test("a number out of range deep inside a deeply nested body is still refused", async () => {
  const deep = (inner: string) => `{"body":${"[".repeat(50_000)}${inner}${"]".repeat(50_000)}}`;
  assert.notEqual(await refusal(deep("1e400")), undefined);
  assert.equal(await refusal(deep("1")), undefined);
});

Deno.test("any finite double as JSON.stringify writes it is taken (a JS client's numbers)", async () => {
  for (const v of [2 ** 60 + 256, 2 ** 53 + 2, -(2 ** 70), 1e21 + 2 ** 20, Number.MAX_VALUE]) {
    assert.equal(await refusal(JSON.stringify({ body: { v } })), undefined, String(v));
  }
  await fc.assert(
    fc.asyncProperty(fc.double({ noNaN: true, noDefaultInfinity: true }), async (v) => {
      assert.equal(await refusal(JSON.stringify({ body: [v] })), undefined, String(v));
    }),
    { numRuns: 500 },
  );
});
