import assert from "node:assert/strict";
import {
  filterToPatterns,
  patternToFilter,
  subjectToTopic,
  topicMatches,
  topicToSubject,
} from "./topics.ts";
import { decodePayload, encodePayload } from "./payload.ts";

Deno.test("topic names map to subjects with . * > % and empty levels escaped, and back", () => {
  const cases: [string, string][] = [
    ["a/b/c", "a.b.c"],
    ["home/1.5/temp", "home.1%2E5.temp"],
    ["x/*/>/%", "x.%2A.%3E.%25"],
    ["/a//b/", "%.a.%.b.%"],
    ["$SYS/uptime", "$SYS.uptime"],
  ];
  for (const [topic, subject] of cases) {
    assert.deepEqual(topicToSubject(topic), { subject });
    assert.equal(subjectToTopic(subject), topic);
  }
  assert.ok("error" in topicToSubject("a/+"));
  assert.ok("error" in topicToSubject(""));
  assert.ok("error" in topicToSubject("x".repeat(256)));
});

Deno.test("filters map + to * and # to >, and a/# matches its parent too", () => {
  assert.deepEqual(filterToPatterns("a/+/c"), { patterns: ["a.*.c"] });
  assert.deepEqual(filterToPatterns("a/#"), { patterns: ["a.>", "a"] });
  assert.deepEqual(filterToPatterns("#"), { patterns: [">"] });
  assert.deepEqual(filterToPatterns("a.b/+"), { patterns: ["a%2Eb.*"] });
  assert.equal(patternToFilter("a%2Eb.*"), "a.b/+");
  assert.equal(patternToFilter("a.>"), "a/#");
  for (const bad of ["a/#/b", "a/b#", "a+/b", ""]) assert.ok("error" in filterToPatterns(bad), bad);
});

Deno.test("MQTT matching: + one level, # the rest and its parent, $ topics not by a first-level wildcard", () => {
  assert.ok(topicMatches("a/+", "a/b"));
  assert.ok(!topicMatches("a/+", "a/b/c"));
  assert.ok(topicMatches("a/#", "a"));
  assert.ok(topicMatches("a/#", "a/b/c"));
  assert.ok(topicMatches("#", "x/y"));
  assert.ok(!topicMatches("#", "$SYS/x"));
  assert.ok(!topicMatches("+/x", "$SYS/x"));
  assert.ok(topicMatches("$SYS/#", "$SYS/x"));
});

Deno.test("payloads round-trip byte for byte: canonical JSON, text, binary", () => {
  const enc = new TextEncoder();
  const cases: [Uint8Array, string, unknown][] = [
    [enc.encode('{"t":21.5}'), "json", { t: 21.5 }],
    [enc.encode('{ "t": 21.5 }'), "text", '{ "t": 21.5 }'],
    [enc.encode("hello"), "text", "hello"],
    [new Uint8Array([0xff, 0, 1]), "base64", "/wAB"],
  ];
  for (const [bytes, kind, body] of cases) {
    const e = encodePayload(bytes);
    assert.equal(e.kind, kind);
    assert.deepEqual(e.body, body);
    assert.deepEqual(new Uint8Array(decodePayload(e.body, e.kind)), bytes);
  }
  // An HTTP publisher's body (no header) arrives as its JSON text.
  assert.equal(decodePayload({ a: 1 }, undefined).toString(), '{"a":1}');
});
