/**
 * The client listener on TLS (`--tls-cert`, `--tls-key`, `--mqtt-tls-listen`), one real node with
 * certificates made by openssl at run time: a client that does not trust the CA is refused, one
 * that does gets through, over HTTP, the stream, the CLI (`mq --ca`), MQTT over TLS (MQTT.js and
 * mosquitto_pub) and MQTT over WebSocket on the same TLS listener.
 *
 * @module
 */

import assert from "node:assert/strict";
import mqtt from "mqtt";
import { Client } from "../../src/client/mod.ts";
import { trustCa } from "../../src/cli/trust.ts";
import { freePorts, Nodes, sleep } from "./nodes.ts";
import { pem, servedCertificate, type TestCa, TestPki } from "../testing/tls.ts";

const pki = await TestPki.create();
// `Command.output()` throws at once (not a rejected promise) when the program is missing: ask the
// shell instead, as the MQTT tests do.
const mosquitto = (await new Deno.Command("sh", { args: ["-c", "command -v mosquitto_pub"] })
  .output()).success;

Deno.test({
  name: "TLS client listener: without the CA refused; with it HTTP, stream, mq, MQTT TLS work",
  ignore: pki === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const ca = await pki!.ca("clients");
    const cert = await pki!.cert(ca, "n1");
    const [mqttTlsPort] = freePorts(1);
    const nodes = await Nodes.start({
      count: 1,
      storage: "memory",
      tls: {
        caPem: ca.certPem,
        args: () => [
          ...["--tls-cert", cert.certFile, "--tls-key", cert.keyFile],
          ...["--mqtt-tls-listen", `127.0.0.1:${mqttTlsPort}`],
        ],
      },
    });
    try {
      const url = nodes.url("n1");
      assert.match(url, /^https:/);
      await checkHttp(nodes, url);
      await checkStream(url, ca);
      await checkCli(url, ca);
      await checkMqttTls(mqttTlsPort, ca);
      await checkMqttWebSocket(url, ca);
      await checkMqttReload(nodes, mqttTlsPort, ca);
    } finally {
      await nodes.stop();
    }
  },
});

Deno.test({
  name: "TLS: the node refuses to start on a key that is not its certificate's",
  ignore: pki === undefined,
  fn: async () => {
    const ca = await pki!.ca("mismatch");
    const a = await pki!.cert(ca, "a");
    const b = await pki!.cert(ca, "b");
    const [port] = freePorts(1);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../src/main.ts", import.meta.url).pathname,
        ...["--listen", `127.0.0.1:${port}`, "--storage", "memory"],
        ...["--tls-cert", a.certFile, "--tls-key", b.keyFile],
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(out.code, 1);
    assert.match(new TextDecoder().decode(out.stderr), /--tls-key is not the private key/);
  },
});

/** HTTP: the system's store does not know our CA; a client that trusts it gets through. */
async function checkHttp(nodes: Nodes, url: string): Promise<void> {
  await assert.rejects(fetch(`${url}/v1/queues`), (e: Error) => {
    assert.match(String(e.cause ?? e), /certificate|UnknownIssuer/i);
    return true;
  });
  const created = await nodes.fetch(`${url}/v1/queues/orders`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  assert.ok(created.ok, `PUT answered ${created.status}`);
  await created.body?.cancel();
  // The dashboard is on the same TLS listener.
  const ui = await nodes.fetch(`${url}/ui`);
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /<html/i);
  // A plain-HTTP request on the TLS port gets no answer of the API.
  const plain = await fetch(url.replace("https:", "http:") + "/v1/queues").then(
    (r) => r.status,
    () => "refused",
  );
  assert.notEqual(plain, 200);
}

/** The stream: without the CA the client cannot open it; with its `fetch` and `dial` it publishes. */
async function checkStream(url: string, ca: TestCa): Promise<void> {
  const stranger = new Client({ nodes: [url], transport: "stream", retry: { attempts: 1 } });
  await assert.rejects(stranger.publish("orders", { body: "x" }));
  await stranger.close();
  const trust = trustCa(ca.certPem);
  const client = new Client({ nodes: [url], fetch: trust.fetch, dial: trust.dial });
  try {
    assert.equal(client.transport.kind, "stream");
    await client.publish("orders", { body: "over the stream", id: "s1" });
    const got = await client.receive("orders", { max: 10 });
    assert.deepEqual(got.map((m) => m.body), ["over the stream"]);
  } finally {
    await client.close();
    trust.close();
  }
}

/** The CLI: `--ca` (or `QUORUMQ_CA`) names the CA file; without it the command fails. */
async function checkCli(url: string, ca: TestCa): Promise<void> {
  const mq = (args: string[], env: Record<string, string> = {}) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../src/cli/main.ts", import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...env },
    }).output();
  const without = await mq(["--nodes", url, "queues"]);
  assert.equal(without.code, 1, new TextDecoder().decode(without.stdout));
  const withCa = await mq(["--nodes", url, "--ca", ca.certFile, "--json", "queues"]);
  assert.equal(withCa.code, 0, new TextDecoder().decode(withCa.stderr));
  assert.match(new TextDecoder().decode(withCa.stdout), /orders/);
  const fromEnv = await mq(["--nodes", url, "--json", "queues"], { QUORUMQ_CA: ca.certFile });
  assert.equal(fromEnv.code, 0, new TextDecoder().decode(fromEnv.stderr));
  // A publish goes in a session, on the stream: wss through mq's own dialer, with the CA.
  const published = await mq([
    "--nodes",
    url,
    "--ca",
    ca.certFile,
    "--json",
    "publish",
    "orders",
    "1",
  ]);
  assert.equal(published.code, 0, new TextDecoder().decode(published.stderr));
  assert.match(new TextDecoder().decode(published.stdout), /"seq"/);
}

/** MQTT over TLS on its own listener: MQTT.js and mosquitto_pub, without and with the CA. */
async function checkMqttTls(port: number, ca: TestCa): Promise<void> {
  const mqttUrl = `mqtts://127.0.0.1:${port}`;
  await assert.rejects(mqtt.connectAsync(mqttUrl, { reconnectPeriod: 0, connectTimeout: 5_000 }));
  const m = await mqtt.connectAsync(mqttUrl, {
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ca: ca.certPem,
    clientId: "tls-client",
  });
  await m.publishAsync("tls/hello", "over mqtts", { qos: 1 });
  await m.endAsync();
  if (!mosquitto) {
    console.error("mosquitto_pub not installed: its part of the TLS test is skipped");
    return;
  }
  const pub = (extra: string[]) =>
    new Deno.Command("mosquitto_pub", {
      args: [
        ...["-h", "127.0.0.1", "-p", String(port), "-t", "tls/mosq", "-m", "hi", "-q", "1"],
        ...["-i", "mosq-tls", ...extra],
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  // An empty CA directory: the chain cannot be checked, so the connection is refused.
  const empty = await Deno.makeTempDir();
  const refused = await pub(["--capath", empty]);
  await Deno.remove(empty);
  assert.notEqual(refused.code, 0);
  const ok = await pub(["--cafile", ca.certFile]);
  assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
}

/**
 * SIGHUP with a renewed certificate in the same files: MQTT over TLS serves it to new connections,
 * and an MQTT connection opened before the reload keeps publishing.
 */
async function checkMqttReload(nodes: Nodes, port: number, ca: TestCa): Promise<void> {
  const before = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ca: ca.certPem,
    clientId: "tls-before-reload",
  });
  try {
    const renewed = await pki!.cert(ca, "n1"); // the same files as the node's
    const reloads = nodes.logs("n1").split('"event":"tls_reloaded"').length;
    Deno.kill(nodes.pid("n1")!, "SIGHUP");
    const deadline = Date.now() + 15_000;
    while (nodes.logs("n1").split('"event":"tls_reloaded"').length === reloads) {
      if (Date.now() > deadline) throw new Error(`no reload:\n${nodes.logs("n1")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await servedCertificate(port, ca.certFile), pem(renewed.certPem));
    await before.publishAsync("tls/after-reload", "still here", { qos: 1 });
  } finally {
    await before.endAsync();
  }
}

/** MQTT over WebSocket on the TLS listener: the upgrade at /mqtt opens with the CA only. */
async function checkMqttWebSocket(url: string, ca: TestCa): Promise<void> {
  const wsUrl = url.replace("https:", "wss:") + "/mqtt";
  const stranger = new WebSocket(wsUrl, ["mqtt"]);
  const strangerOpened = await new Promise<boolean>((resolve) => {
    stranger.onopen = () => resolve(true);
    stranger.onerror = () => resolve(false);
  });
  assert.equal(strangerOpened, false);
  const httpClient = Deno.createHttpClient({ caCerts: [ca.certPem] });
  try {
    const ws = new WebSocket(wsUrl, { client: httpClient, protocols: ["mqtt"] } as never);
    const opened = await new Promise<boolean>((resolve) => {
      ws.onopen = () => resolve(true);
      ws.onerror = () => resolve(false);
    });
    assert.ok(opened, "wss:/mqtt did not open with the CA");
    assert.equal(ws.protocol, "mqtt");
    ws.close();
  } finally {
    httpClient.close();
  }
}

Deno.test({
  name: "TLS: a SIGHUP while the node is still starting neither ends it nor is lost",
  ignore: pki === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // The certificate is read from a FIFO, so the start waits in it for as long as the test
    // likes: a SIGHUP then lands while the node is starting, every time. SIGHUP's default action
    // ended the process there before the node listened for it from its first line.
    const ca = await pki!.ca("early");
    const cert = await pki!.cert(ca, "n1", { file: "early" });
    const fifo = `${pki!.dir}/early-cert.fifo`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success, "mkfifo failed");
    const [port] = freePorts(1);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../src/main.ts", import.meta.url).pathname,
        ...["--listen", `127.0.0.1:${port}`, "--storage", "memory"],
        ...["--tls-cert", fifo, "--tls-key", cert.keyFile],
      ],
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const logs: string[] = [];
    const reading = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) logs.push(chunk);
    })();
    const seen = async (what: RegExp) => {
      for (let i = 0; i < 600 && !what.test(logs.join("")); i++) {
        const exited = await Promise.race([child.status, sleep(50).then(() => undefined)]);
        if (exited !== undefined) {
          throw new Error(`the node exited (${exited.signal ?? exited.code}):\n${logs.join("")}`);
        }
      }
      assert.match(logs.join(""), what);
    };
    try {
      await seen(/"event":"node_starting"/);
      child.kill("SIGHUP");
      await seen(/"signal":"SIGHUP"/);
      await Deno.writeTextFile(fifo, cert.certPem); // the start reads it and goes on
      await seen(/"event":"node_listening"/);
      await Deno.writeTextFile(fifo, cert.certPem); // the reload asked for during the start
      await seen(/"event":"tls_reloaded"/);
      const http = Deno.createHttpClient({ caCerts: [ca.certPem] });
      try {
        const res = await fetch(`https://127.0.0.1:${port}/healthz`, { client: http });
        assert.equal(res.status, 200);
        await res.body?.cancel();
      } finally {
        http.close();
      }
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
      await reading;
    }
  },
});

globalThis.addEventListener("unload", () => {
  if (pki !== undefined) Deno.removeSync(pki.dir, { recursive: true });
});
