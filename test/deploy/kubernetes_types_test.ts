/**
 * The Kubernetes objects of deploy/ against the Kubernetes API's own types (npm
 * `kubernetes-models`): each object becomes a typed object literal in a scratch module, and
 * `deno check` refuses a misspelt field (TypeScript's excess property check, at every depth), a
 * wrong type or a missing required field, where the API server would refuse or silently drop it.
 * A copy with planted typos is checked in the same run and must fail, naming each.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseKubernetes, readDeployTexts, REPO_ROOT, type Yaml } from "./deploy_files.ts";

const TYPES: Record<string, { module: string; type: string }> = {
  StatefulSet: { module: "kubernetes-models/apps/v1/StatefulSet", type: "IStatefulSet" },
  Service: { module: "kubernetes-models/v1/Service", type: "IService" },
  PodDisruptionBudget: {
    module: "kubernetes-models/policy/v1/PodDisruptionBudget",
    type: "IPodDisruptionBudget",
  },
};

/** A module declaring each object as a constant of its API type. */
function typedModule(objects: Yaml[]): string {
  const imports = Object.values(TYPES).map((t) => `import type { ${t.type} } from "${t.module}";`);
  const consts = objects.map((o, i) => {
    const type = TYPES[o.kind]?.type;
    if (type === undefined) throw new Error(`No API type for kind ${o.kind}`);
    return `export const o${i}: ${type} = ${JSON.stringify(o, null, 2)};`;
  });
  return [...imports, ...consts].join("\n") + "\n";
}

Deno.test("the StatefulSet, Services and budget type-check against the Kubernetes API", async () => {
  const objects = Object.values(parseKubernetes((await readDeployTexts()).statefulset));
  assert.deepEqual(objects.map((o) => o.kind).sort(), [
    "PodDisruptionBudget",
    "Service",
    "Service",
    "StatefulSet",
  ]);
  const planted = structuredClone(objects);
  const sts = planted.find((o) => o.kind === "StatefulSet");
  const pod = sts.spec.template.spec;
  pod.containers[0].livenessProbe.httpGet.pth = pod.containers[0].livenessProbe.httpGet.path;
  delete pod.containers[0].livenessProbe.httpGet.path;
  pod.securityContext.fsgroup = 1993;
  pod.terminationGracePeriodSeconds = "30";

  const dir = await Deno.makeTempDir({ prefix: "quorumq-k8s-types-" });
  try {
    await Deno.writeTextFile(`${dir}/real.ts`, typedModule(objects));
    await Deno.writeTextFile(`${dir}/planted.ts`, typedModule(planted));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--config", `${REPO_ROOT}/deno.json`, `${dir}/real.ts`, `${dir}/planted.ts`],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    // Each error: `TSnnnn [ERROR]: message`, the code, then `at file://<path>:line:col`.
    const errors = [...text.matchAll(/TS\d+ \[ERROR\]: ([^\n]+)[\s\S]*?\bat file:\/\/([^:]+)/g)]
      .map((m) => ({ message: m[1], file: m[2].slice(dir.length + 1) }));
    assert.deepEqual(errors.filter((e) => e.file !== "planted.ts"), [], text);
    assert.equal(errors.length, 3, text);
    const found = errors.map((e) => e.message).join("\n");
    assert.match(found, /'"?pth"?' does not exist in type 'IHTTPGetAction'/, text);
    assert.match(found, /'"?fsgroup"?' does not exist in type 'IPodSecurityContext'/, text);
    assert.match(found, /Type 'string' is not assignable to type 'number'/, text);
    assert.equal(out.code, 1, text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
