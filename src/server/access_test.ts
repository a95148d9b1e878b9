import assert from "node:assert/strict";
import { anonymousAccess, isLoopback } from "./access.ts";

const one = [{ id: "n1", url: "http://127.0.0.1:8080" }];
const three = [
  { id: "n1", url: "http://127.0.0.1:8081" },
  { id: "n2", url: "http://127.0.0.1:8082" },
  { id: "n3", url: "http://127.0.0.1:8083" },
];
const loopback = { hostname: "127.0.0.1", port: 8080 };
const base = {
  authFile: undefined,
  allowAnonymous: false,
  peers: one,
  join: false,
  listen: loopback,
};

Deno.test("anonymousAccess: the single-node quickstart on loopback is open", () => {
  assert.deepEqual(anonymousAccess(base), { open: true });
  assert.deepEqual(
    anonymousAccess({ ...base, listen: { hostname: "localhost", port: 1 } }),
    { open: true },
  );
});

Deno.test("anonymousAccess: a cluster without --auth-file is read-only for anonymous callers, and says which flags", () => {
  for (const config of [{ ...base, peers: three }, { ...base, join: true }]) {
    const access = anonymousAccess(config);
    assert.equal(access.open, false);
    if (access.open) throw new Error("unreachable");
    assert.match(access.why, /--auth-file <file\.json>/);
    assert.match(access.why, /--allow-anonymous/);
    assert.match(access.why, config.join ? /--join/ : /--peers/);
  }
});

Deno.test("anonymousAccess: one node beyond loopback without --auth-file is read-only too", () => {
  const access = anonymousAccess({ ...base, listen: { hostname: "0.0.0.0", port: 8080 } });
  assert.equal(access.open, false);
  if (access.open) throw new Error("unreachable");
  assert.match(access.why, /listens on 0\.0\.0\.0/);
});

Deno.test("anonymousAccess: --auth-file or --allow-anonymous leave the decision to tokens / open it", () => {
  const wide = { ...base, peers: three, listen: { hostname: "0.0.0.0", port: 8080 } };
  assert.deepEqual(anonymousAccess({ ...wide, authFile: "auth.json" }), { open: true });
  assert.deepEqual(anonymousAccess({ ...wide, allowAnonymous: true }), { open: true });
});

Deno.test("isLoopback: 127/8, ::1 and localhost; not 0.0.0.0, :: or a LAN address", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"]) {
    assert.equal(isLoopback(h), true, h);
  }
  for (const h of ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.com", "127.0.0.1.nip.io"]) {
    assert.equal(isLoopback(h), false, h);
  }
});
