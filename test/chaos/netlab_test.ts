/**
 * NetLab against the real kernel: namespaces, veth, bridge and iptables. Skipped (ignored, with
 * the reason printed) where the process is not root or `ip`/`iptables` are missing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { NetLab } from "./netlab.ts";

const availability = await NetLab.available();
if (!availability.ok) console.log(`netlab tests skipped: ${availability.reason}`);
const ignore = !availability.ok;

/** Runs `code` with deno inside `id`'s namespace; answers its exit code. */
async function inside(lab: NetLab, id: string, code: string): Promise<number> {
  const [cmd, ...pre] = lab.wrap(id);
  const out = await new Deno.Command(cmd, {
    args: [...pre, Deno.execPath(), "eval", code],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.code;
}

/** Exit 0 when a TCP connection to host:port opens within 1.5 s, 3 when it does not. */
const connectCode = (host: string, port: number) => `
  const t = setTimeout(() => Deno.exit(3), 1500);
  try { (await Deno.connect({ hostname: "${host}", port: ${port} })).close(); clearTimeout(t); }
  catch { Deno.exit(4); }`;

async function canConnectFromHarness(host: string, port: number): Promise<boolean> {
  try {
    const conn = await Promise.race([
      Deno.connect({ hostname: host, port }),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), 1500)),
    ]);
    conn.close();
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "NetLab cut drops one node's packets at another, leaves the harness's path, heal restores",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const lab = await NetLab.create(["a", "b", "c"]);
    const [cmd, ...pre] = lab.wrap("b");
    const server = new Deno.Command(cmd, {
      args: [
        ...pre,
        Deno.execPath(),
        "eval",
        `Deno.listen({ hostname: "${lab.host("b")}", port: 7070 });
        await new Promise((r) => setTimeout(r, 60000));`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const port = 7070;
      const b = lab.host("b");
      let up = false;
      for (let i = 0; i < 50 && !up; i++) {
        up = await canConnectFromHarness(b, port);
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(up, "the harness reaches b over the bridge");
      assert.equal(await inside(lab, "a", connectCode(b, port)), 0, "a reaches b");

      await lab.cut("a", "b");
      assert.deepEqual(await lab.rules("b"), [`-A INPUT -s ${lab.host("a")}/32 -j DROP`]);
      assert.equal(await inside(lab, "a", connectCode(b, port)), 3, "a's packets to b dropped");
      assert.equal(await inside(lab, "c", connectCode(b, port)), 0, "c still reaches b");
      assert.ok(await canConnectFromHarness(b, port), "the harness still reaches b");

      await lab.heal();
      assert.deepEqual(await lab.rules("b"), []);
      assert.equal(await inside(lab, "a", connectCode(b, port)), 0, "a reaches b after heal");
    } finally {
      server.kill("SIGKILL");
      await server.status;
      await lab.destroy();
    }
    const left = await new Deno.Command("ip", { args: ["netns", "list"] }).output();
    assert.ok(
      !new TextDecoder().decode(left.stdout).includes(`qq-${lab.tag}-`),
      "namespaces removed",
    );
  },
});

Deno.test({
  name: "NetLab lossy installs a random DROP rule and refuses a probability outside (0, 1)",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const lab = await NetLab.create(["a", "b"]);
    try {
      await lab.lossy("a", "b", 0.3);
      const rules = await lab.rules("b");
      assert.equal(rules.length, 1);
      assert.match(rules[0], /-m statistic --mode random --probability 0\.29\d+ -j DROP/);
      await assert.rejects(() => lab.lossy("a", "b", 1), /must be in \(0, 1\)/);
    } finally {
      await lab.destroy();
    }
  },
});

Deno.test({
  name: "NetLab.sweep removes the lab of a process that died without destroy()",
  ignore,
  async fn() {
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    const ns = `qq-swp${Deno.pid % 10000}-x`;
    await new Deno.Command("ip", { args: ["netns", "add", ns] }).output();
    await Deno.mkdir("/tmp/quorumq-netlab", { recursive: true });
    const file = `/tmp/quorumq-netlab/swept-${Deno.pid}.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({ pid: dead.pid, bridge: "qqnonebr", namespaces: [ns] }),
    );
    await NetLab.sweep();
    const left = await new Deno.Command("ip", { args: ["netns", "list"] }).output();
    assert.ok(!new TextDecoder().decode(left.stdout).includes(ns), `${ns} was swept`);
    await assert.rejects(() => Deno.stat(file), "the record was removed");
  },
});
