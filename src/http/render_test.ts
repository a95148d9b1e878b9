import assert from "node:assert/strict";
import { publishJson, singlePublish } from "./render.ts";

Deno.test("singlePublish answers the text of publishJson, 201 new and 200 duplicate", () => {
  const ids = ["a", 'q"uote\\', "é €", "\u0000\n", "x".repeat(256)];
  for (const id of ids) {
    for (const duplicate of [false, true]) {
      for (const seq of [1, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
        const o = { ok: true as const, seq, id, duplicate };
        const answer = singlePublish(o);
        assert.equal(answer.text, JSON.stringify(publishJson(o)));
        assert.equal(answer.status, duplicate ? 200 : 201);
      }
    }
  }
});
