/**
 * The agreement checks of deploy/: every option, environment variable, port, path, probe, user
 * and image the files use exists in the options table (src/config.ts) and is the same across the
 * Dockerfile, compose, Kubernetes and systemd. `checkDeploy` returns one line per problem, so a
 * test can plant a mistake (a renamed flag, another port) and see the line that names it.
 *
 * @module
 */

import {
  composeLaunch,
  type DeployTexts,
  dockerLaunch,
  execForm,
  kubernetesLaunch,
  type Launch,
  parseCompose,
  parseDockerfile,
  parseKubernetes,
  parseUnit,
  systemdLaunch,
  type Yaml,
} from "./deploy_files.ts";

/** What the files are checked against. */
export interface DeployFacts {
  /** The flags of the options table (without `--`), and which take no value. */
  readonly options: readonly { readonly flag: string; readonly boolean?: boolean }[];
  /** `QUORUMQ_<NAME>` of a flag. */
  readonly envName: (flag: string) => string;
  /** The paths the node's HTTP app serves (the OpenAPI document's). */
  readonly routes: ReadonlySet<string>;
  /** deno.json's `start` task: the permissions every launch must grant, no more, no less. */
  readonly startTask: string;
}

/** Options whose value is a file the node reads: each must be mounted where the file says. */
export const FILE_OPTIONS = [
  "secret-file",
  "auth-file",
  "tls-cert",
  "tls-key",
  "peer-ca",
  "peer-cert",
  "peer-key",
] as const;

export const COMPOSE_SERVICES = ["n1", "n2", "n3"] as const;

export function checkDeploy(texts: DeployTexts, facts: DeployFacts): string[] {
  const launches: Launch[] = [
    dockerLaunch(texts, {}),
    ...COMPOSE_SERVICES.map((s) => composeLaunch(texts, s)),
    kubernetesLaunch(texts),
    systemdLaunch(texts),
  ];
  const all = [
    ...envNames(texts, facts),
    ...docFlags(texts, launches, facts),
    ...launches.flatMap((l) => flags(l, facts)),
    ...launches.flatMap((l) => fileOptions(l, facts)),
    ...denoFlags(launches, facts),
    ...ports(texts, launches, facts),
    ...dataPaths(texts, launches, facts),
    ...composeRules(texts),
    ...kubernetesRules(texts, facts),
    ...systemdRules(texts),
    ...identity(texts),
  ];
  return [...new Set(all)]; // the same line from several launches of one file counts once
}

/** Every `QUORUMQ_X` anywhere in the files (comments too) is an option's env name. */
function envNames(texts: DeployTexts, facts: DeployFacts): string[] {
  const known = new Set(facts.options.map((o) => facts.envName(o.flag)));
  const out: string[] = [];
  for (const [file, text] of Object.entries(texts)) {
    for (const m of text.matchAll(/\bQUORUMQ_[A-Z0-9_]+/g)) {
      if (!known.has(m[0])) out.push(`${file}: ${m[0]} is not an option's environment name`);
    }
  }
  return [...new Set(out)];
}

/**
 * Every flag docs/operations.md names in prose (a code span starting with `--`) is an option, or
 * one of the deno flags the deploy files run with; `--peer-*` stands for the options it prefixes.
 */
function docFlags(texts: DeployTexts, launches: Launch[], facts: DeployFacts): string[] {
  const deno = new Set(launches.flatMap((l) => l.argv.slice(0, l.argv.indexOf("src/main.ts"))));
  const prose = texts.operations.replace(/```[\s\S]*?```/g, "");
  const out: string[] = [];
  for (const m of prose.matchAll(/`(--[a-z*-]+)[^`]*`/g)) {
    const flag = m[1].slice(2);
    const known = flag.endsWith("*")
      ? facts.options.some((o) => o.flag.startsWith(flag.slice(0, -1)))
      : facts.options.some((o) => o.flag === flag) || deno.has(m[1]);
    if (!known) out.push(`operations: ${m[1]} is not an option of src/main.ts`);
  }
  return [...new Set(out)];
}

/** Every flag after `src/main.ts` is an option; each valued flag has a value. */
function flags(launch: Launch, facts: DeployFacts): string[] {
  const out: string[] = [];
  const at = launch.argv.indexOf("src/main.ts");
  if (at === -1) return [`${launch.file}: the command line does not run src/main.ts`];
  const args = launch.argv.slice(at + 1);
  for (let i = 0; i < args.length; i++) {
    const flag = args[i].replace(/^--/, "").replace(/=.*$/, "");
    const option = facts.options.find((o) => o.flag === flag);
    if (!args[i].startsWith("--") || option === undefined) {
      out.push(`${launch.file}: ${args[i]} is not an option of src/main.ts`);
    } else if (!option.boolean && !args[i].includes("=")) i++;
  }
  return out;
}

/** A file option points into something the deployment mounts or provides. */
function fileOptions(launch: Launch, facts: DeployFacts): string[] {
  const out: string[] = [];
  const missing = FILE_OPTIONS.filter((f) => launch.env[facts.envName(f)] === undefined);
  // The bare image and the docker run example carry no files; every cluster launch needs all.
  if (launch.file !== "dockerfile" && missing.length > 0) {
    out.push(`${launch.file}: sets no ${missing.map((f) => facts.envName(f)).join(", ")}`);
  }
  return out;
}

/** The runtime flags of deno are the same everywhere, and the permissions are `deno task start`'s. */
function denoFlags(launches: Launch[], facts: DeployFacts): string[] {
  const out: string[] = [];
  const startPerms = facts.startTask.split(/\s+/).filter((w) => w.startsWith("--")).sort();
  for (const l of launches) {
    const at = l.argv.indexOf("src/main.ts");
    const runtime = l.argv.slice(0, at);
    if (runtime[0] !== "deno" || runtime[1] !== "run") {
      out.push(`${l.file}: starts with ${runtime.slice(0, 2).join(" ")}, not deno run`);
    }
    const given = runtime.filter((w) => w.startsWith("--"));
    for (const need of ["--cached-only", "--frozen"]) {
      if (!given.includes(need)) out.push(`${l.file}: deno run without ${need}`);
    }
    const perms = given.filter((w) => w !== "--cached-only" && w !== "--frozen").sort();
    if (perms.join(" ") !== startPerms.join(" ")) {
      out.push(`${l.file}: deno flags ${perms.join(" ")} differ from deno task start's`);
    }
  }
  return out;
}

function portOf(hostPort: string | undefined): string | undefined {
  return hostPort?.slice(hostPort.lastIndexOf(":") + 1);
}

/** One port (the image's EXPOSE) in listen, advertise, peers, compose and Kubernetes. */
function ports(texts: DeployTexts, launches: Launch[], facts: DeployFacts): string[] {
  const out: string[] = [];
  const expose = parseDockerfile(texts.dockerfile).find((s) => s.name === "EXPOSE")?.rest;
  const want = expose ?? "(no EXPOSE)";
  const env = (l: Launch, flag: string) => l.env[facts.envName(flag)];
  for (const l of launches) {
    if (portOf(env(l, "listen")) !== want) {
      out.push(`${l.file}: listens on ${env(l, "listen")}, not port ${want}`);
    }
    const urls = [
      ...(env(l, "peers") ?? "").split(",").filter((p) => p !== "").map((p) => p.split("=")[1]),
      env(l, "advertise") ?? argAfter(l.argv, "--advertise"),
    ].filter((u): u is string => u !== undefined);
    for (const u of urls) {
      if (!u.startsWith("https://")) out.push(`${l.file}: ${u} is not https`);
      if (portOf(u.replace(/\/$/, "")) !== want) out.push(`${l.file}: ${u} is not on port ${want}`);
    }
  }
  const compose = parseCompose(texts.compose);
  for (const [name, svc] of Object.entries<Yaml>(compose.services)) {
    for (const p of svc.ports ?? []) {
      const [target, published, host] = String(p).split(":").reverse();
      if (target !== want) out.push(`compose ${name}: publishes container port ${target}`);
      if (host !== "127.0.0.1" || published === undefined) {
        out.push(`compose ${name}: ${p} is not published on 127.0.0.1 only`);
      }
    }
  }
  const k8s = parseKubernetes(texts.statefulset);
  const container = k8s.StatefulSet.spec.template.spec.containers[0];
  const named = container.ports.find((p: Yaml) => String(p.containerPort) === want)?.name;
  if (named === undefined) out.push(`statefulset: no containerPort ${want}`);
  for (const svc of [k8s["Service/quorumq"], k8s["Service/quorumq-peers"]]) {
    for (const p of svc?.spec.ports ?? []) {
      if (String(p.port) !== want || p.targetPort !== named) {
        out.push(`statefulset: Service ${svc.metadata.name} port ${p.port} -> ${p.targetPort}`);
      }
    }
  }
  for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    const get = container[probe]?.httpGet;
    if (get?.port !== named || get?.scheme !== "HTTPS") {
      out.push(`statefulset: ${probe} is not HTTPS on port ${named}`);
    }
  }
  return out;
}

function argAfter(argv: string[], flag: string): string | undefined {
  const at = argv.indexOf(flag);
  return at === -1 ? undefined : argv[at + 1];
}

/** The data directory is the image's VOLUME, compose's and Kubernetes' mounts, systemd's state. */
function dataPaths(texts: DeployTexts, launches: Launch[], facts: DeployFacts): string[] {
  const out: string[] = [];
  const volume = parseDockerfile(texts.dockerfile).find((s) => s.name === "VOLUME")?.rest;
  for (const l of launches) {
    const data = l.env[facts.envName("data")];
    if (l.file === "unit") continue;
    if (data !== volume) out.push(`${l.file}: data in ${data}, the image's VOLUME is ${volume}`);
  }
  const compose = parseCompose(texts.compose);
  for (const [name, svc] of Object.entries<Yaml>(compose.services)) {
    const targets = (svc.volumes ?? []).map((v: string) => v.split(":")[1]);
    if (!targets.includes(volume)) out.push(`compose ${name}: no volume mounted at ${volume}`);
  }
  const spec = parseKubernetes(texts.statefulset).StatefulSet.spec;
  const claim = spec.volumeClaimTemplates?.[0]?.metadata.name;
  const mount = spec.template.spec.containers[0].volumeMounts
    .find((m: Yaml) => m.name === claim);
  if (mount?.mountPath !== volume) {
    out.push(`statefulset: the volume claim ${claim} is mounted at ${mount?.mountPath}`);
  }
  const service = parseUnit(texts.unit).Service;
  const unitData = systemdLaunch(texts).env[facts.envName("data")];
  if (unitData !== `%S/${service.StateDirectory?.[0]}`) {
    out.push(`unit: data in ${unitData}, StateDirectory is ${service.StateDirectory}`);
  }
  return out;
}

/** Compose: one image, a restart policy, the image's health check, files from `secrets:`. */
function composeRules(texts: DeployTexts): string[] {
  const out: string[] = [];
  const compose = parseCompose(texts.compose);
  const health = parseDockerfile(texts.dockerfile).find((s) => s.name === "HEALTHCHECK")?.rest;
  const imageCheck = health === undefined ? [] : execForm(health.slice(health.indexOf("[")));
  const images = new Set<string>();
  for (const [name, svc] of Object.entries<Yaml>(compose.services)) {
    images.add(svc.image);
    if (svc.build?.dockerfile !== "deploy/Dockerfile") {
      out.push(`compose ${name}: not built from deploy/Dockerfile`);
    }
    if (!["always", "unless-stopped", "on-failure"].includes(svc.restart)) {
      out.push(`compose ${name}: restart policy ${svc.restart}`);
    }
    const check = (svc.healthcheck?.test ?? []).slice(1).join(" ");
    if (check !== imageCheck.join(" ")) {
      out.push(`compose ${name}: health check differs from the image's`);
    }
    for (const [key, value] of Object.entries<string>(svc.environment ?? {})) {
      const secret = /^\/run\/secrets\/(.+)$/.exec(String(value));
      if (secret === null) continue;
      if (!(svc.secrets ?? []).includes(secret[1]) || !compose.secrets?.[secret[1]]?.file) {
        out.push(`compose ${name}: ${key} reads ${value}, not a file secret of the service`);
      }
    }
  }
  if (images.size !== 1) out.push(`compose: ${images.size} images, expected one`);
  return out;
}

/** Kubernetes: probes that cannot kill a restoring node, and the rest of what the file promises. */
function kubernetesRules(texts: DeployTexts, facts: DeployFacts): string[] {
  const out: string[] = [];
  const k8s = parseKubernetes(texts.statefulset);
  const pod = k8s.StatefulSet.spec.template.spec;
  const c = pod.containers[0];
  const need = (ok: boolean, what: string) => ok || out.push(`statefulset: ${what}`);
  for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
    const path = c[probe]?.httpGet?.path;
    need(facts.routes.has(path), `${probe} path ${path} is not a route of the node`);
  }
  need(c.livenessProbe?.httpGet?.path === "/healthz", "liveness is not /healthz");
  need(c.startupProbe?.httpGet?.path === "/healthz", "the startup probe is not /healthz");
  need(c.readinessProbe?.httpGet?.path === "/readyz", "readiness is not /readyz");
  const budget = (p: Yaml) => (p?.periodSeconds ?? 10) * (p?.failureThreshold ?? 3);
  need(budget(c.startupProbe) >= 600, `the startup probe gives ${budget(c.startupProbe)} s`);
  need(budget(c.livenessProbe) >= 60, `liveness kills after ${budget(c.livenessProbe)} s`);
  need((c.livenessProbe?.timeoutSeconds ?? 1) >= 5, "liveness times out under 5 s");
  const stopSleep = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
  need(stopSleep > 0, "no preStop pause");
  need(pod.terminationGracePeriodSeconds >= stopSleep + 20, "the grace period is too short");
  need(pod.enableServiceLinks === false, "service links put QUORUMQ_* variables in the env");
  need(c.imagePullPolicy !== undefined, "no imagePullPolicy");
  need(
    c.resources?.requests?.memory !== undefined && c.resources?.limits?.memory !== undefined,
    "no memory request and limit",
  );
  need(pod.affinity?.podAntiAffinity !== undefined, "no pod anti-affinity");
  need(k8s.PodDisruptionBudget?.spec?.maxUnavailable === 1, "no PodDisruptionBudget of 1");
  need(pod.securityContext?.runAsNonRoot === true, "may run as root");
  need(
    k8s["Service/quorumq-peers"]?.spec.publishNotReadyAddresses === true,
    "the peer Service hides nodes that are not ready yet",
  );
  // Each file option's path lies in a mounted volume and names an item of its projected Secret.
  const mounts: Yaml[] = c.volumeMounts ?? [];
  for (const flag of FILE_OPTIONS) {
    const path = kubernetesLaunch(texts).env[facts.envName(flag)] ?? "";
    const mount = mounts.find((m) => path.startsWith(m.mountPath + "/"));
    const volume = (pod.volumes ?? []).find((v: Yaml) => v.name === mount?.name);
    const items = (volume?.projected?.sources ?? [])
      .flatMap((s: Yaml) => s.secret?.items ?? []).map((i: Yaml) =>
        `${mount?.mountPath}/${i.path}`
      );
    need(items.includes(path), `${facts.envName(flag)}=${path} is in no mounted Secret`);
  }
  // The wrapper that makes a scaled-out pod join must name real options.
  need(/QUORUMQ_JOIN=true/.test(kubernetesLaunch(texts).script), "no --join for new pods");
  return out;
}

/** systemd: no restart loop on a bad option, state where the data is, credentials loaded. */
function systemdRules(texts: DeployTexts): string[] {
  const out: string[] = [];
  const unit = parseUnit(texts.unit);
  const s = unit.Service;
  const need = (ok: boolean, what: string) => ok || out.push(`unit: ${what}`);
  const prevent = (s.RestartPreventExitStatus ?? []).join(" ").split(/\s+/);
  need(prevent.includes("2"), "restarts after exit 2 (a bad option) in a loop");
  need(prevent.includes("70"), "restarts after exit 70 (a fatal storage error)");
  need(s.Restart?.[0] === "on-failure", "Restart is not on-failure");
  need(s.StateDirectory !== undefined, "no StateDirectory");
  need(s.User !== undefined && s.User[0] !== "root", "runs as root");
  for (const key of ["NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp"]) {
    need(s[key] !== undefined, `no ${key}`);
  }
  need(s.MemoryDenyWriteExecute === undefined, "MemoryDenyWriteExecute breaks V8's JIT");
  const credentials = new Set((s.LoadCredential ?? []).map((c) => c.split(":")[0]));
  for (const [key, value] of Object.entries(systemdLaunch(texts).env)) {
    const m = /^%d\/(.+)$/.exec(value);
    if (m !== null) need(credentials.has(m[1]), `${key}=${value} is not a LoadCredential`);
  }
  return out;
}

/** One runtime user (uid 1993) and one image name everywhere. */
function identity(texts: DeployTexts): string[] {
  const out: string[] = [];
  const user = parseDockerfile(texts.dockerfile).findLast((s) => s.name === "USER")?.rest;
  const uid = user?.split(":")[0];
  if (uid === undefined || uid === "0" || uid === "root") out.push(`dockerfile: USER ${user}`);
  const chown = /chown (\d+):(\d+) .*\/data\b/.exec(texts.dockerfile);
  if (chown?.[1] !== uid) out.push(`dockerfile: /data is not chowned to ${uid}`);
  const pod = parseKubernetes(texts.statefulset).StatefulSet.spec.template.spec;
  const sc = pod.securityContext ?? {};
  for (const key of ["runAsUser", "runAsGroup", "fsGroup"]) {
    if (String(sc[key]) !== uid) {
      out.push(`statefulset: ${key} ${sc[key]}, the image's user is ${uid}`);
    }
  }
  if (!texts.compose.includes(`uid ${uid}`)) {
    out.push(`compose: does not say the files need uid ${uid}`);
  }
  const composeImages = Object.values<Yaml>(parseCompose(texts.compose).services).map((s) =>
    s.image
  );
  const k8sImage = pod.containers[0].image;
  if (!composeImages.every((i) => i === k8sImage)) {
    out.push(`statefulset: image ${k8sImage}, compose builds ${composeImages[0]}`);
  }
  return out;
}
