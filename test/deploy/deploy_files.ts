/**
 * Reads the files of deploy/ into plain data: small parsers for the Dockerfile, the systemd unit
 * and env files, npm `yaml` for compose and Kubernetes, and the launch of a node as each file
 * describes it (the command line, its environment, its working directory). Shared by the check
 * of the files and the test that runs them, in this folder.
 *
 * @module
 */

import { parse as parseYaml, parseAllDocuments } from "yaml";

/** The texts of the deploy files, so that a test can plant a mistake in a copy. */
export interface DeployTexts {
  readonly dockerfile: string;
  readonly compose: string;
  readonly statefulset: string;
  readonly unit: string;
  readonly nodeEnv: string;
  /** docs/operations.md: the options it names must exist too. */
  readonly operations: string;
}

export const DEPLOY_PATHS: Readonly<Record<keyof DeployTexts, string>> = {
  dockerfile: "deploy/Dockerfile",
  compose: "deploy/compose.yaml",
  statefulset: "deploy/kubernetes/statefulset.yaml",
  unit: "deploy/systemd/quorumq@.service",
  nodeEnv: "deploy/systemd/node.env.example",
  operations: "docs/operations.md",
};

export const REPO_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export async function readDeployTexts(root = REPO_ROOT): Promise<DeployTexts> {
  const read = (key: keyof DeployTexts) => Deno.readTextFile(`${root}/${DEPLOY_PATHS[key]}`);
  return {
    dockerfile: await read("dockerfile"),
    compose: await read("compose"),
    statefulset: await read("statefulset"),
    unit: await read("unit"),
    nodeEnv: await read("nodeEnv"),
    operations: await read("operations"),
  };
}

/** One Dockerfile instruction: `ENV A=1` is `{ name: "ENV", rest: "A=1" }`. */
export interface Instruction {
  readonly name: string;
  readonly rest: string;
}

/** Instructions in order; comments dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.startsWith("#")) continue; // a comment inside a continued instruction
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    const space = full.search(/\s/);
    out.push({ name: full.slice(0, space).toUpperCase(), rest: full.slice(space + 1).trim() });
  }
  return out;
}

/** The exec form `["a", "b"]` of an instruction's arguments. */
export function execForm(rest: string): string[] {
  const parsed: unknown = JSON.parse(rest);
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === "string")) {
    throw new Error(`Not an exec form: ${rest}`);
  }
  return parsed;
}

/** `A=1 B=two` (an ENV instruction or an env file line) as pairs. */
export function parseAssignments(rest: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of splitWords(rest)) {
    const eq = word.indexOf("=");
    if (eq <= 0) throw new Error(`Not NAME=value: ${word}`);
    out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

/** Words split at blanks; double quotes group (no escapes: the deploy files need none). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  for (const m of text.matchAll(/(?:"[^"]*"|[^\s"])+/g)) words.push(m[0].replaceAll('"', ""));
  return words;
}

/** A systemd unit: section → key → every value given for it, in order. */
export type Unit = Record<string, Record<string, string[]>>;

export function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of text.replace(/\\\n/g, " ").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = unit[header[1]] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (section === undefined || eq <= 0) throw new Error(`Bad unit line: ${line}`);
    (section[line.slice(0, eq).trim()] ??= []).push(line.slice(eq + 1).trim());
  }
  return unit;
}

/** An EnvironmentFile: `NAME=value` lines, `#` comments. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    Object.assign(out, parseAssignments(line));
  }
  return out;
}

// deno-lint-ignore no-explicit-any
export type Yaml = any;

/** deploy/compose.yaml with its `<<` merge keys resolved. */
export function parseCompose(text: string): Yaml {
  return parseYaml(text, { merge: true });
}

/** The documents of the Kubernetes file, by kind. */
export function parseKubernetes(text: string): Record<string, Yaml> {
  const out: Record<string, Yaml> = {};
  for (const doc of parseAllDocuments(text)) {
    if ("errors" in doc && doc.errors.length > 0) throw new Error(String(doc.errors[0]));
    const value = doc.toJS();
    const key = value.kind === "Service" ? `Service/${value.metadata.name}` : value.kind;
    out[key] = value;
  }
  return out;
}

/** How a file starts a node: argv as written (`deno`, `src/main.ts` relative), env, cwd. */
export interface Launch {
  readonly file: keyof DeployTexts;
  readonly argv: string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
}

/** The image's ENTRYPOINT + CMD, with its ENV and whatever `extraEnv` a `docker run -e` adds. */
export function dockerLaunch(texts: DeployTexts, extraEnv: Record<string, string>): Launch {
  const steps = parseDockerfile(texts.dockerfile);
  const entry = steps.findLast((s) => s.name === "ENTRYPOINT");
  if (entry === undefined) throw new Error("The Dockerfile has no ENTRYPOINT");
  const cmd = steps.findLast((s) => s.name === "CMD");
  const env: Record<string, string> = {};
  for (const s of steps) if (s.name === "ENV") Object.assign(env, parseAssignments(s.rest));
  const workdir = steps.findLast((s) => s.name === "WORKDIR")?.rest ?? "/";
  return {
    file: "dockerfile",
    argv: [...execForm(entry.rest), ...(cmd ? execForm(cmd.rest) : [])],
    env: { ...env, ...extraEnv },
    cwd: workdir,
  };
}

/** A compose service: the image's ENTRYPOINT + the service's command, image ENV + environment. */
export function composeLaunch(texts: DeployTexts, service: string): Launch {
  const compose = parseCompose(texts.compose);
  const svc = compose.services?.[service];
  if (svc === undefined) throw new Error(`compose.yaml has no service ${service}`);
  const image = dockerLaunch(texts, {});
  const env = Object.fromEntries(
    Object.entries(svc.environment ?? {}).map(([k, v]) => [k, String(v)]),
  );
  const entry = image.argv.slice(0, image.argv.indexOf("src/main.ts") + 1);
  const command: string[] = (svc.command ?? []).map(String);
  return {
    file: "compose",
    argv: [...entry, ...command],
    env: { ...image.env, ...env },
    cwd: image.cwd,
  };
}

/**
 * The StatefulSet's container: the `exec` line of its shell script (`sh -c`), or, without one,
 * its command + args or the image's ENTRYPOINT; and its env list.
 */
export function kubernetesLaunch(texts: DeployTexts): Launch & { script: string } {
  const container = parseKubernetes(texts.statefulset).StatefulSet.spec.template.spec.containers[0];
  const image = dockerLaunch(texts, {});
  const shell = container.command?.[0]?.endsWith("sh") && container.command?.[1] === "-c";
  const script: string = shell ? (container.args ?? []).join("\n") : "";
  const exec = script.split("\n").map((l: string) => l.trim()).find((l: string) =>
    l.startsWith("exec ")
  );
  if (shell && exec === undefined) throw new Error("The StatefulSet's script has no exec line");
  const argv = exec !== undefined
    ? splitWords(exec).slice(1)
    : [...(container.command ?? image.argv), ...(container.args ?? [])].map(String);
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    env[e.name] = e.value ?? `<${e.valueFrom ? "from" : "unset"}>`;
  }
  return {
    file: "statefulset",
    argv,
    env: { ...image.env, ...env },
    cwd: image.cwd,
    script,
  };
}

/** The unit's ExecStart with Environment= and the example EnvironmentFile. */
export function systemdLaunch(texts: DeployTexts): Launch {
  const service = parseUnit(texts.unit).Service;
  const env: Record<string, string> = parseEnvFile(texts.nodeEnv);
  for (const line of service.Environment ?? []) Object.assign(env, parseAssignments(line));
  const exec = service.ExecStart;
  if (exec?.length !== 1) throw new Error("The unit needs exactly one ExecStart=");
  return {
    file: "unit",
    argv: splitWords(exec[0]),
    env,
    cwd: service.WorkingDirectory?.[0] ?? "/",
  };
}
