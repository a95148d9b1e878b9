/**
 * The deploy files, run: three real processes started by the exact command lines of the image's
 * ENTRYPOINT (as `docker run -e ...` starts it, with compose's shared environment), compose's
 * service n2 and the systemd unit's instance n3, with the TLS, tokens and secret files they
 * configure, form one cluster; a write and a read go through the client over https. Then the
 * StatefulSet's script starts a fourth node as a scaled-out pod (`quorumq-3`): it joins by
 * itself, is added with `POST /v1/cluster/members`, and answers a read; and the unit's node is
 * replaced after a lost disk as docs/operations.md says. Only the places move
 * (deploy_launch.ts): loopback ports, temp dirs, this Deno, the test's cluster id.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/mod.ts";
import { type Trust, trustCa } from "../../src/cli/trust.ts";
import { eventually } from "../e2e/http.ts";
import { freePorts } from "../e2e/nodes.ts";
import { TestPki } from "../testing/tls.ts";
import {
  composeLaunch,
  type DeployTexts,
  dockerLaunch,
  execForm,
  kubernetesLaunch,
  type Launch,
  parseCompose,
  parseDockerfile,
  readDeployTexts,
  systemdLaunch,
} from "./deploy_files.ts";
import {
  type LaunchedNode,
  localize,
  type LocalLaunch,
  type Materials,
  provide,
  spawnLaunch,
  spawnScript,
} from "./deploy_launch.ts";

const ADMIN = "deploy-admin-token-0123456789";
const APP = "deploy-app-token-0123456789";

function authFile(): string {
  return JSON.stringify({
    tokens: [
      { name: "ops", token: ADMIN, admin: ["*"] },
      { name: "app", token: APP, publish: ["*"], consume: ["*"] },
    ],
  });
}

/** `$(NAME)` in a Kubernetes env value is an earlier variable of the same list (kubelet's rule). */
function expandKubernetesEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    out[key] = value.replace(/\$\(([A-Z_]+)\)/g, (m, name) => out[name] ?? m);
  }
  return out;
}

/** The value `QUORUMQ_PEERS` gives `id` (a node advertises its own entry). */
function peerUrl(peers: string, id: string): string {
  const entry = peers.split(",").find((p) => p.startsWith(`${id}=`));
  if (entry === undefined) throw new Error(`${id} is not in ${peers}`);
  return entry.slice(id.length + 1);
}

async function readyz(client: Deno.HttpClient, url: string): Promise<true | undefined> {
  const response = await fetch(`${url}/readyz`, { client, signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.status === 200 ? true : undefined;
}

/** The test's PKI, ports, temp dir and the nodes it started; `close()` ends them all. */
class DeployCluster {
  readonly running: LaunchedNode[] = [];
  readonly ports = freePorts(4);
  readonly urls = this.ports.map((p) => `https://localhost:${p}`);
  readonly clusterId = `deploy-${crypto.randomUUID().slice(0, 8)}`;
  /** Every host name the files use, to the port of the node that plays it here. */
  readonly hosts = new Map<string, number>([
    ["n1", this.ports[0]],
    ["n2", this.ports[1]],
    ["n3", this.ports[2]],
    ["mq1.example.internal", this.ports[0]],
    ["mq2.example.internal", this.ports[1]],
    ["mq3.example.internal", this.ports[2]],
    ["quorumq-3.quorumq-peers.default.svc", this.ports[3]],
  ]);
  readonly http: Deno.HttpClient;
  readonly #clients: Client[] = [];
  readonly #trusts: Trust[] = [];

  private constructor(
    readonly pki: TestPki,
    readonly texts: DeployTexts,
    readonly dir: string,
    readonly caPem: string,
    readonly materials: Materials,
  ) {
    this.http = Deno.createHttpClient({ caCerts: [caPem] });
  }

  static async create(pki: TestPki): Promise<DeployCluster> {
    const ca = await pki.ca("deploy");
    const cert = await pki.cert(ca, "node");
    const materials: Materials = {
      "ca.crt": ca.certPem,
      "tls.crt": cert.certPem,
      "tls.key": cert.keyPem,
      "cluster-secret": crypto.randomUUID() + "\n",
      "auth.json": authFile(),
    };
    const dir = await Deno.makeTempDir({ prefix: "quorumq-deploy-" });
    return new DeployCluster(pki, await readDeployTexts(), dir, ca.certPem, materials);
  }

  /** `launch` localized as node `id` on port `index`. */
  local(launch: Launch, id: string, index: number): LocalLaunch {
    const place = { id, port: this.ports[index], dir: `${this.dir}/${id}` };
    return localize(launch, place, this.hosts, this.clusterId);
  }

  async start(local: LocalLaunch, spawn: () => LaunchedNode): Promise<void> {
    await provide(local, this.materials);
    this.running.push(spawn());
  }

  client(token: string, nodes = this.urls.slice(0, 3)): Client {
    // The cluster's CA through Deno's HTTP client, as `mq --ca` does (docs/tls.md).
    const trust = trustCa(this.caPem);
    this.#trusts.push(trust);
    const client = new Client({
      nodes,
      token,
      fetch: trust.fetch,
      dial: trust.dial,
      timeoutMs: 5_000,
    });
    this.#clients.push(client);
    return client;
  }

  async ready(url: string): Promise<void> {
    await eventually(`${url}/readyz`, () => readyz(this.http, url), 30_000).catch((e) => {
      throw new Error(`${e}\n${this.running.map((n) => `--- ${n.id}\n${n.tail()}`).join("\n")}`);
    });
  }

  /** Clients close their sessions on the nodes: before the nodes stop. */
  async closeClients(): Promise<void> {
    await Promise.all(this.#clients.splice(0).map((c) => c.close()));
    for (const trust of this.#trusts.splice(0)) trust.close();
  }

  async close(): Promise<void> {
    await this.closeClients().catch(() => {});
    await Promise.all(this.running.map((n) => n.stop()));
    this.http.close();
    await this.pki.remove();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** The three founders: the image (as `docker run -e` starts it), compose's n2, systemd's n3. */
function founders(c: DeployCluster): { n1: LocalLaunch; n2: LocalLaunch; n3: LocalLaunch } {
  // The image's ENTRYPOINT and ENV with compose's shared environment, as -e options.
  const shared = parseCompose(c.texts.compose)["x-node"].environment as Record<string, string>;
  const docker = dockerLaunch(c.texts, {
    ...shared,
    QUORUMQ_ID: "n1",
    QUORUMQ_ADVERTISE: "https://n1:8080",
  });
  // /etc/quorumq/n3/node.env: the example, with this host's own entry as its address.
  const unit = systemdLaunch(c.texts);
  const unitEnv = { ...unit.env, QUORUMQ_ADVERTISE: peerUrl(unit.env.QUORUMQ_PEERS, "n3") };
  return {
    n1: c.local(docker, "n1", 0),
    n2: c.local(composeLaunch(c.texts, "n2"), "n2", 1),
    n3: c.local({ ...unit, env: unitEnv }, "n3", 2),
  };
}

async function writeAndRead(c: DeployCluster): Promise<void> {
  await c.client(ADMIN).createQueue("orders", {});
  const app = c.client(APP);
  const published = await app.publish("orders", { id: "order-1", body: { sku: "A1" } });
  assert.equal(published.id, "order-1");
  const got = await c.client(APP, [c.urls[2]]).receive("orders", { max: 1, waitMs: 2_000 });
  assert.deepEqual(got.map((m) => m.body), [{ sku: "A1" }]);
  assert.deepEqual((await app.ack("orders", got[0].receipt)).map((r) => r.status), ["acked"]);
  const anonymous = await fetch(`${c.urls[1]}/v1/queues`, { client: c.http });
  await anonymous.body?.cancel();
  assert.equal(anonymous.status, 401);
}

/** The Dockerfile's HEALTHCHECK command, with the environment of the node it runs beside. */
async function healthcheck(c: DeployCluster, node: LocalLaunch): Promise<void> {
  const health = parseDockerfile(c.texts.dockerfile).find((s) => s.name === "HEALTHCHECK");
  assert.match(health?.rest ?? "", /\bCMD \[/);
  const argv = execForm(health!.rest.slice(health!.rest.indexOf("[")));
  assert.equal(argv[0], "deno");
  const out = await new Deno.Command(Deno.execPath(), {
    args: argv.slice(1),
    cwd: node.cwd,
    env: { ...node.env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

/** The StatefulSet's script as pod quorumq-3 of a scale-up: it joins, is added, serves a read. */
async function scaleOut(c: DeployCluster): Promise<void> {
  const pod = kubernetesLaunch(c.texts);
  const env = expandKubernetesEnv({ ...pod.env, POD_NAME: "quorumq-3", POD_NAMESPACE: "default" });
  // The founders here are n1..n3, not quorumq-0..2: the list this cluster was started with.
  env.QUORUMQ_PEERS = systemdLaunch(c.texts).env.QUORUMQ_PEERS;
  const n4 = c.local({ ...pod, env }, "quorumq-3", 3);
  await c.start(n4, () => spawnScript("quorumq-3", pod.script, n4));
  await c.client(ADMIN).cluster.addMember({ id: "quorumq-3", url: c.urls[3] });
  await c.ready(c.urls[3]);
  // Added as a learner, promoted to a voter (a follower) once caught up.
  await voter(c, c.urls[3], "quorumq-3");
  assert.equal((await c.client(APP, [c.urls[3]]).getQueue("orders")).name, "orders");
}

/** `id`'s role in the view of the node at `url`, once it is a voter (follower or leader). */
async function voter(c: DeployCluster, url: string, id: string): Promise<void> {
  const client = c.client(ADMIN, [url]);
  await eventually(`${id} a voter`, async () => {
    const role = (await client.cluster.view()).members.find((m) => m.id === id)?.role;
    return role === "follower" || role === "leader" ? true : undefined;
  }, 30_000);
}

/**
 * docs/operations.md's "Replacing a failed node" on the systemd node n3: its disk is lost, so it
 * is removed, started again empty with QUORUMQ_JOIN=true in its node.env, added, and promoted.
 */
async function replace(c: DeployCluster, n3: LocalLaunch): Promise<void> {
  const old = c.running.find((n) => n.id === "n3")!;
  assert.equal(await old.stop(), 0);
  await c.client(ADMIN).cluster.removeMember("n3");
  await Deno.remove(n3.env.QUORUMQ_DATA, { recursive: true });
  const again = { ...n3, env: { ...n3.env, QUORUMQ_JOIN: "true" } };
  await c.start(again, () => spawnLaunch("n3", again));
  await c.client(ADMIN).cluster.addMember({ id: "n3", url: c.urls[2] });
  await c.ready(c.urls[2]);
  await voter(c, c.urls[0], "n3");
  // It serves the state again, copied from the leader.
  const queue = await c.client(APP, [c.urls[2]]).getQueue("orders");
  assert.equal(queue.name, "orders");
}

Deno.test("deploy files run: Dockerfile, compose and systemd nodes form a TLS cluster", async (t) => {
  const pki = await TestPki.create();
  if (pki === undefined) return; // TestPki said why
  const c = await DeployCluster.create(pki);
  try {
    const { n1, n2, n3 } = founders(c);
    await c.start(n1, () => spawnLaunch("n1", n1));
    await c.start(n2, () => spawnLaunch("n2", n2));
    await c.start(n3, () => spawnLaunch("n3", n3));
    await t.step("the three nodes agree on a leader and are ready over https", async () => {
      for (const url of c.urls.slice(0, 3)) await c.ready(url);
    });
    await t.step(
      "a write and a read through the client, with the tokens of auth.json",
      () => writeAndRead(c),
    );
    await t.step(
      "the image's HEALTHCHECK passes against the Dockerfile's node",
      () => healthcheck(c, n1),
    );
    await t.step(
      "the StatefulSet's script starts a pod beyond the founders with --join",
      () => scaleOut(c),
    );
    await t.step(
      "the unit's node loses its disk: removed, started empty with --join, added again",
      () => replace(c, n3),
    );
    await c.closeClients();
    await t.step("SIGTERM stops every node with exit 0", async () => {
      const codes = await Promise.all(c.running.map((n) => n.stop()));
      assert.deepEqual(codes, c.running.map(() => 0));
    });
  } finally {
    await c.close();
  }
});
