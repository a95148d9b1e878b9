/**
 * Bad inputs, auth on and off, and the operations endpoints (`/healthz`, `/readyz`,
 * `/metrics`, `/openapi.json`) against real node processes over real sockets: the steps of
 * `contract_input.ts`.
 *
 * @module
 */

import { Nodes } from "./nodes.ts";
import { assertStatus, call } from "./http.ts";
import { AUTH, authSteps, inputSteps } from "./contract_input.ts";

Deno.test("e2e api input: bad inputs get problems and the node stays healthy", async (t) => {
  const nodes = await Nodes.start({ count: 1, extraArgs: ["--max-body-bytes", "65536"] });
  try {
    await inputSteps(t, nodes.url("n1"), "n1");
  } finally {
    await nodes.stop();
  }
});

Deno.test("e2e api input: auth on: 401, 403, permissions on name patterns", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "quorumq-auth-" });
  const file = `${dir}/auth.json`;
  await Deno.writeTextFile(file, JSON.stringify(AUTH));
  const nodes = await Nodes.start({
    count: 3,
    extraArgs: ["--auth-file", file],
    adminToken: "tok-admin-all-0001",
  }).catch(async (e) => {
    await Deno.remove(dir, { recursive: true });
    throw e;
  });
  try {
    const leader = await nodes.waitLeader();
    const f = nodes.url(nodes.ids.find((id) => id !== leader)!);
    await authSteps(t, f, nodes.url(leader));
  } finally {
    await nodes.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("e2e api input: auth off: no token needed anywhere", async () => {
  const nodes = await Nodes.start({ count: 1, storage: "memory" });
  try {
    const base = nodes.url("n1");
    assertStatus(await call(base, "PUT", "/v1/queues/open", { body: {} }), 201);
    assertStatus(await call(base, "GET", "/metrics"), 200);
    assertStatus(await call(base, "GET", "/v1/cluster"), 200);
    const withJunk = await call(base, "GET", "/v1/queues/open", {
      headers: { authorization: "Bearer whatever" },
    });
    assertStatus(withJunk, 200);
  } finally {
    await nodes.stop();
  }
});
