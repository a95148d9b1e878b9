/**
 * deploy/ against the code: every option, env name, port, path, probe, user and image the
 * Dockerfile, compose file, StatefulSet and systemd unit use exists and agrees across them (see
 * deploy_checks.ts). Each planted mistake below shows a check firing, so a renamed flag or a
 * moved port fails here, not in someone's cluster.
 *
 * @module
 */

import assert from "node:assert/strict";
import { envName, OPTIONS } from "../../src/config.ts";
import { openApiDocument } from "../../src/http/mod.ts";
import { checkDeploy, type DeployFacts } from "./deploy_checks.ts";
import { type DeployTexts, readDeployTexts, REPO_ROOT } from "./deploy_files.ts";

async function realFacts(): Promise<DeployFacts> {
  const denoJson = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}/deno.json`));
  const paths = openApiDocument().paths as Record<string, unknown>;
  return {
    options: OPTIONS,
    envName,
    routes: new Set(Object.keys(paths)),
    startTask: denoJson.tasks.start,
  };
}

Deno.test("deploy files use only real options and agree with each other", async () => {
  assert.deepEqual(checkDeploy(await readDeployTexts(), await realFacts()), []);
});

/** The problems a planted change brings that the real files do not have. */
async function planted(
  change: (texts: DeployTexts) => DeployTexts,
  facts?: (real: DeployFacts) => DeployFacts,
): Promise<string[]> {
  const real = await realFacts();
  const texts = await readDeployTexts();
  // The first test asserts the real files have none; this keeps each plant's own lines.
  const before = new Set(checkDeploy(texts, real));
  return checkDeploy(change(texts), facts ? facts(real) : real).filter((p) => !before.has(p));
}

function edit(texts: DeployTexts, key: keyof DeployTexts, from: string | RegExp, to: string) {
  const changed = texts[key].replace(from, to);
  assert.notEqual(changed, texts[key], `the plant ${from} was not found in ${key}`);
  return { ...texts, [key]: changed };
}

Deno.test("deploy check fires when a flag is renamed in the options table", async () => {
  const problems = await planted((t) => t, (f) => ({
    ...f,
    options: f.options.map((o) =>
      o.flag === "secret-file" ? { ...o, flag: "cluster-secret-file" } : o
    ),
  }));
  for (const file of ["compose", "statefulset", "unit"]) {
    assert.ok(
      problems.includes(`${file}: QUORUMQ_SECRET_FILE is not an option's environment name`),
      problems.join("\n"),
    );
  }
  const renamed = await planted((t) => t, (f) => ({
    ...f,
    options: f.options.map((o) => o.flag === "advertise" ? { ...o, flag: "advertise-url" } : o),
  }));
  assert.ok(renamed.includes("operations: --advertise is not an option of src/main.ts"));
  assert.ok(
    renamed.includes("compose: --advertise is not an option of src/main.ts"),
    renamed.join("\n"),
  );
});

Deno.test("deploy check fires on a port, a data path or an image that differs", async () => {
  const port = await planted((t) =>
    edit(t, "compose", "127.0.0.1:8082:8080", "127.0.0.1:8082:9090")
  );
  assert.deepEqual(port, ["compose n2: publishes container port 9090"]);
  const open = await planted((t) => edit(t, "compose", "127.0.0.1:8083:8080", "8083:8080"));
  assert.deepEqual(open, ["compose n3: 8083:8080 is not published on 127.0.0.1 only"]);
  const data = await planted((t) =>
    edit(
      t,
      "statefulset",
      "{ name: data, mountPath: /data }",
      "{ name: data, mountPath: /var/data }",
    )
  );
  assert.deepEqual(data, ["statefulset: the volume claim data is mounted at /var/data"]);
  const image = await planted((t) =>
    edit(t, "statefulset", "image: quorumq:local", "image: quorumq:latest")
  );
  assert.deepEqual(image, ["statefulset: image quorumq:latest, compose builds quorumq:local"]);
  const peer = await planted((t) =>
    edit(t, "nodeEnv", "mq2.example.internal:8080", "mq2.example.internal:8443")
  );
  assert.deepEqual(peer, ["unit: https://mq2.example.internal:8443 is not on port 8080"]);
});

Deno.test("deploy check fires on a liveness probe that could kill a restoring node", async () => {
  const ready = await planted((t) =>
    edit(
      t,
      "statefulset",
      /livenessProbe:\n(\s+)httpGet: \{ path: \/healthz/,
      "livenessProbe:\n$1httpGet: { path: /readyz",
    )
  );
  assert.deepEqual(ready, ["statefulset: liveness is not /healthz"]);
  const short = await planted((t) =>
    edit(t, "statefulset", "failureThreshold: 90", "failureThreshold: 6")
  );
  assert.deepEqual(short, ["statefulset: the startup probe gives 60 s"]);
  const route = await planted((t) => edit(t, "statefulset", "path: /readyz", "path: /ready"));
  assert.deepEqual(route, [
    "statefulset: readinessProbe path /ready is not a route of the node",
    "statefulset: readiness is not /readyz",
  ]);
});

Deno.test("deploy check fires on a restart loop, a missing mount and a different user", async () => {
  const loop = await planted((t) =>
    edit(t, "unit", "RestartPreventExitStatus=2 70", "RestartPreventExitStatus=70")
  );
  assert.deepEqual(loop, ["unit: restarts after exit 2 (a bad option) in a loop"]);
  const mount = await planted((t) =>
    edit(t, "statefulset", /\n\s*- \{ key: tls.key, path: tls.key \}/, "")
  );
  assert.deepEqual(mount, [
    "statefulset: QUORUMQ_TLS_KEY=/etc/quorumq/tls.key is in no mounted Secret",
    "statefulset: QUORUMQ_PEER_KEY=/etc/quorumq/tls.key is in no mounted Secret",
  ]);
  const user = await planted((t) => edit(t, "statefulset", "runAsUser: 1993", "runAsUser: 1000"));
  assert.deepEqual(user, ["statefulset: runAsUser 1000, the image's user is 1993"]);
  const secret = await planted((t) =>
    edit(t, "compose", "secrets: [cluster-secret, ", "secrets: [")
  );
  assert.equal(secret.length, 3, secret.join("\n"));
  assert.ok(secret[0].includes("QUORUMQ_SECRET_FILE reads /run/secrets/cluster-secret"), secret[0]);
});

Deno.test("src/main.ts exits 2 on a bad option, which the unit does not restart", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${REPO_ROOT}/src/main.ts`, "--no-such-option"],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2, new TextDecoder().decode(out.stderr));
  assert.match(new TextDecoder().decode(out.stderr), /Unknown option --no-such-option/);
});

Deno.test("systemd-analyze verify accepts the unit (where systemd is installed)", async (t) => {
  const which = await new Deno.Command("sh", {
    args: ["-c", "command -v systemd-analyze"],
    stdout: "null",
  }).output();
  if (!which.success) {
    console.log("skipped: systemd-analyze is not installed");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "quorumq-unit-" });
  try {
    const unit = `${dir}/quorumq@n1.service`;
    await Deno.copyFile(`${REPO_ROOT}/deploy/systemd/quorumq@.service`, unit);
    const out = await new Deno.Command("systemd-analyze", {
      args: ["verify", unit],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    await t.step("no error and no ignored line", () => {
      assert.equal(out.code, 0, text);
      assert.doesNotMatch(text, /Unknown|ignoring|not executable|Failed/i, text);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
