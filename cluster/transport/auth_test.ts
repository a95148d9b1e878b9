import assert from "node:assert/strict";
import {
  clientProofInput,
  importSecret,
  parseHandshake,
  serverProofInput,
  sign,
  verify,
} from "./auth.ts";

const ids = { clientId: "n1", serverId: "n2", clusterId: "c1" };

Deno.test("verify() accepts a proof under the same secret and rejects another secret's", async () => {
  const key = await importSecret("s3cret");
  const other = await importSecret("s3cret!");
  const input = clientProofInput({ serverNonce: "abc", ...ids });
  const mac = await sign(key, input);
  assert.equal(await verify(key, input, mac), true);
  assert.equal(await verify(other, input, mac), false);
  assert.equal(await verify(key, clientProofInput({ serverNonce: "abd", ...ids }), mac), false);
  assert.equal(await verify(key, input, "%%% not base64"), false);
});

Deno.test("clientProofInput() and serverProofInput() never coincide, so proofs cannot be reflected", () => {
  const c = clientProofInput({ serverNonce: "x", ...ids });
  const s = serverProofInput({ clientNonce: "x", serverNonce: "x", ...ids });
  assert.notEqual(c, s);
  // Ids with separators cannot be shifted between fields.
  assert.notEqual(
    clientProofInput({ serverNonce: "a", clientId: "b|c", serverId: "d", clusterId: "e" }),
    clientProofInput({ serverNonce: "a", clientId: "b", serverId: "c|d", clusterId: "e" }),
  );
});

Deno.test("importSecret() refuses an empty secret", () => {
  assert.throws(() => importSecret(""), /secret is empty/);
});

Deno.test("parseHandshake() accepts the three shapes and rejects anything else", () => {
  assert.equal(parseHandshake('{"t":"challenge","v":1,"nonce":"n"}')?.t, "challenge");
  assert.equal(parseHandshake('{"t":"welcome","mac":"m"}')?.t, "welcome");
  const hello = { t: "hello", v: 1, ...ids, nonce: "n", mac: "m" };
  assert.equal(parseHandshake(JSON.stringify(hello))?.t, "hello");
  assert.equal(parseHandshake(JSON.stringify({ ...hello, mac: 5 })), undefined);
  assert.equal(parseHandshake('{"t":"challenge","v":2,"nonce":"n"}'), undefined);
  assert.equal(parseHandshake("not json"), undefined);
  assert.equal(parseHandshake("null"), undefined);
});

Deno.test("parseHandshake() takes a hello's advertised URL only when it is http or https", () => {
  const hello = { t: "hello", v: 1, ...ids, nonce: "n", mac: "m" };
  const withUrl = (url: unknown) => parseHandshake(JSON.stringify({ ...hello, url }));
  assert.equal(withUrl("http://10.0.0.9:8080")?.t, "hello");
  assert.equal(withUrl("https://n9.example")?.t, "hello");
  assert.equal(withUrl("file:///etc/passwd"), undefined);
  assert.equal(withUrl("not a url"), undefined);
  assert.equal(withUrl(9), undefined);
});
