import assert from "node:assert/strict";
import fc from "fast-check";
import type { HeaderMatch } from "./commands.ts";
import { RoutingIndex } from "./_routing_index.ts";
import { checkPattern, checkSubject, subjectMatches } from "./subject.ts";

/** The reference: a pattern as a regular expression, built from NATS's rules directly. */
function reference(pattern: string): RegExp {
  const parts = pattern.split(".").map((t) =>
    t === "*"
      ? "[^.]+"
      : t === ">"
      ? "[^.]+(?:\\.[^.]+)*"
      : t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  );
  return new RegExp(`^${parts.join("\\.")}$`);
}

function refHeaders(m: HeaderMatch | undefined, h: Record<string, string> | undefined): boolean {
  if (m === undefined) return true;
  return Object.entries(m).every(([k, c]) =>
    typeof c === "string" ? h?.[k] === c : (h !== undefined && k in h) === c.exists
  );
}

// A small alphabet, so random subjects and patterns meet often.
const token = fc.constantFrom("a", "b", "c", "ab");
const subject = fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join("."));
const pattern = fc.tuple(
  fc.array(fc.oneof(token, fc.constant("*")), { minLength: 0, maxLength: 4 }),
  fc.boolean(),
).map(([ts, gt]) => (gt ? [...ts, ">"] : ts.length === 0 ? ["*"] : ts).join("."));
const headerMatch: fc.Arbitrary<HeaderMatch | undefined> = fc.option(
  fc.dictionary(
    fc.constantFrom("x", "y"),
    fc.oneof(fc.constantFrom("1", "2"), fc.record({ exists: fc.boolean() })),
    { minKeys: 1, maxKeys: 2 },
  ),
  { nil: undefined },
);
const headers = fc.option(fc.dictionary(fc.constantFrom("x", "y"), fc.constantFrom("1", "2")), {
  nil: undefined,
});
const spec = fc.record({
  filters: fc.option(fc.array(pattern, { minLength: 1, maxLength: 4 }), { nil: undefined }),
  headers: headerMatch,
});

Deno.test("property: the generated subjects and patterns are valid ones", () => {
  fc.assert(fc.property(subject, pattern, (s, p) => {
    assert.equal(checkSubject(s), undefined);
    assert.equal(checkPattern(p), undefined);
  }));
});

Deno.test("property: subjectMatches agrees with the regular-expression reference", () => {
  fc.assert(
    fc.property(pattern, subject, (p, s) => {
      assert.equal(subjectMatches(p, s), reference(p).test(s), `${p} vs ${s}`);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("property: the index routes exactly as a scan of every subscription would", () => {
  fc.assert(
    fc.property(
      fc.array(spec, { minLength: 1, maxLength: 40 }),
      // Changes after the first set: [subscription, new spec or undefined to delete].
      fc.array(fc.tuple(fc.nat(39), fc.option(spec, { nil: undefined })), { maxLength: 20 }),
      fc.array(fc.tuple(fc.option(subject, { nil: undefined }), headers), {
        minLength: 1,
        maxLength: 30,
      }),
      (specs, changes, messages) => {
        const index = new RoutingIndex<{ ord: number }>();
        const live = new Map<number, (typeof specs)[number]>();
        const targets = specs.map((_, i) => ({ ord: i + 1 }));
        specs.forEach((s, i) => {
          index.set(targets[i], s);
          live.set(i, s);
        });
        for (const [i, s] of changes) {
          if (i >= specs.length) continue;
          if (s === undefined) {
            index.delete(targets[i]);
            live.delete(i);
          } else {
            index.set(targets[i], s);
            live.set(i, s);
          }
        }
        assert.equal(index.size, live.size);
        for (const [subj, h] of messages) {
          const expected = [...live.entries()].filter(([, s]) =>
            refHeaders(s.headers, h) &&
            (s.filters === undefined ||
              (subj !== undefined && s.filters.some((p) => reference(p).test(subj))))
          ).map(([i]) => i + 1).sort((a, b) => a - b);
          assert.deepEqual(index.match(subj, h).map((t) => t.ord), expected);
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("the index drops emptied trie nodes: delete everything, and nothing matches", () => {
  const index = new RoutingIndex<{ ord: number }>();
  const ts = [{ ord: 1 }, { ord: 2 }];
  index.set(ts[0], { filters: ["a.*.c", "a.>", "*.b"] });
  index.set(ts[1], { filters: ["a.b.c"] });
  assert.deepEqual(index.match("a.b.c", undefined).map((t) => t.ord), [1, 2]);
  index.delete(ts[0]);
  index.delete(ts[1]);
  assert.equal(index.size, 0);
  assert.deepEqual(index.match("a.b.c", undefined), []);
});

Deno.test("property: checkSubject's fast path accepts exactly what the rules accept", () => {
  const rules = (s: string) => {
    const bytes = new TextEncoder().encode(s).length;
    return bytes >= 1 && bytes <= 255 &&
      s.split(".").every((t) => t.length > 0 && !t.includes("*") && !t.includes(">"));
  };
  const text = fc.array(fc.constantFrom("a", "b", ".", "*", ">", "é", "x".repeat(100)), {
    maxLength: 8,
  }).map((cs) => cs.join(""));
  fc.assert(
    fc.property(text, (s) => {
      assert.equal(checkSubject(s) === undefined, rules(s), JSON.stringify(s));
    }),
    { numRuns: 3000 },
  );
});
