/**
 * The tidy rules (in the spirit of TigerBeetle's `tidy.zig`): each is a pure function from the
 * tree (and, for the error names, the registry and the client's classes) to a list of violations,
 * one readable line each. `test/tidy_test.ts` runs them over this repository, and over small
 * planted trees to show that each one fires.
 *
 * @module
 */

import {
  baseOf,
  dirOf,
  importsOf,
  normalize,
  type SourceFile,
  splitCode,
  type Tree,
} from "./tree.ts";

const isTs = (f: SourceFile) => f.path.endsWith(".ts");
const isTest = (path: string) => path.endsWith("_test.ts");

/** A folder's `testing/` subfolder belongs to it: the two may import each other's files. */
function sameFolder(a: string, b: string): boolean {
  return a === b || (baseOf(a) === "testing" && dirOf(a) === b) ||
    (baseOf(b) === "testing" && dirOf(b) === a);
}

/** No file imports a `_private.ts` file of another folder (tests included). */
export function privateImports(tree: Tree): string[] {
  const out: string[] = [];
  for (const file of tree.files.filter(isTs)) {
    for (const imp of importsOf(file)) {
      if (imp.target === undefined) continue;
      if (baseOf(imp.target).startsWith("_") && !sameFolder(dirOf(imp.target), dirOf(file.path))) {
        out.push(`${file.path}:${imp.line} imports ${imp.target}, private to its folder`);
      }
    }
  }
  return out;
}

/**
 * An import into another folder that has a `mod.ts` goes through that `mod.ts`; `allowed` names
 * files that may be imported directly, each with its reason.
 */
export function modImports(
  tree: Tree,
  allowed: ReadonlyMap<string, string> = new Map(),
): string[] {
  const out: string[] = [];
  for (const file of tree.files.filter(isTs)) {
    for (const imp of importsOf(file)) {
      const target = imp.target;
      if (target === undefined || baseOf(target) === "mod.ts" || allowed.has(target)) continue;
      const folder = dirOf(target);
      if (sameFolder(folder, dirOf(file.path)) || baseOf(folder) === "testing") continue;
      if (tree.has(`${folder === "" ? "" : `${folder}/`}mod.ts`)) {
        out.push(`${file.path}:${imp.line} imports ${target}; use ${folder}/mod.ts`);
      }
    }
  }
  return out;
}

/** Folders whose code must stay pure: no I/O, no clock, no global randomness. */
const PURE = /^(cluster\/raft|src\/broker)\//;

/**
 * What a pure folder may not name: the runtime, a timer, a clock or randomness, called or only
 * taken (`{ wall: Date.now }` reads the clock as surely as `Date.now()`; `new Date()` without an
 * argument is the wall clock, `new Date(ms)` is not). Clocks come in as functions from outside.
 */
const IMPURE =
  /\bDeno\.|\bDate\.now\b|\bperformance\.now\b|\bMath\.random\b|\bnew Date\(\s*\)|\bcrypto\.|\bset(?:Timeout|Interval)\(/g;

/**
 * The layers: `cluster/` never imports `src/` (consensus knows nothing of queues), and the Raft
 * core and the broker (tests aside) touch no `Deno` API, no `node:` module, no clock, no
 * `Math.random`: the simulator runs them unchanged.
 */
export function layers(tree: Tree): string[] {
  const out: string[] = [];
  for (const file of tree.files.filter(isTs)) {
    for (const imp of importsOf(file)) {
      if (file.path.startsWith("cluster/") && imp.target?.startsWith("src/")) {
        out.push(`${file.path}:${imp.line} imports ${imp.target}: cluster/ never imports src/`);
      }
    }
    if (!PURE.test(file.path) || isTest(file.path) || isHelperName(file.path)) continue;
    const { code } = splitCode(file.text);
    const lines = code.split("\n");
    for (let n = 0; n < lines.length; n++) {
      for (const bad of lines[n].matchAll(IMPURE)) {
        out.push(`${file.path}:${n + 1} uses ${bad[0]} in a pure folder`);
      }
    }
    if (/from "node:/.test(file.text)) {
      out.push(`${file.path} imports a node: module in a pure folder`);
    }
  }
  return out;
}

/** A test, or a helper of tests by its name or place (docs/design.md, "Dependency rules"). */
export function isTestCode(path: string): boolean {
  return /^(test|examples)\//.test(path) || isTest(path) || isHelperName(path);
}

/** `_testing.ts`, `_testing_<what>.ts`, or anything in a `testing/` folder. */
const isHelperName = (path: string) =>
  /^_testing(_[a-z0-9_]+)?\.ts$/.test(baseOf(path)) || baseOf(dirOf(path)) === "testing";

/**
 * One naming scheme for test helpers in `cluster/` and `src/`: a module that only tests import
 * is named as a helper (`_testing*.ts`, or in `testing/`), unless it is a program of its own
 * (`import.meta.main`); and no production module imports one.
 */
export function testHelperNames(tree: Tree): string[] {
  const importers = new Map<string, string[]>();
  for (const file of tree.files.filter(isTs)) {
    for (const imp of importsOf(file)) {
      if (imp.target !== undefined) {
        importers.set(imp.target, [...importers.get(imp.target) ?? [], file.path]);
      }
    }
  }
  const out: string[] = [];
  for (const file of tree.files.filter(isTs)) {
    if (!/^(cluster|src)\//.test(file.path) || isTest(file.path)) continue;
    const by = importers.get(file.path) ?? [];
    if (isHelperName(file.path)) {
      for (const p of by.filter((p) => !isTestCode(p))) {
        out.push(`${p} imports the test helper ${file.path}`);
      }
    } else if (by.length > 0 && by.every(isTestCode) && !file.text.includes("import.meta.main")) {
      out.push(
        `${file.path} is imported only by tests: name it _testing*.ts or move it to testing/`,
      );
    }
  }
  return out;
}

/**
 * Value-import cycles (type-only imports are erased, so they cannot form one). Each cycle is one
 * strongly connected component of the value-import graph, named by its sorted files; `allowed`
 * holds components known and explained.
 */
export function valueCycles(
  tree: Tree,
  allowed: ReadonlyMap<string, string> = new Map(),
): string[] {
  const graph = new Map<string, string[]>();
  for (const file of tree.files.filter(isTs)) {
    const targets = importsOf(file).filter((i) => !i.typeOnly && i.target !== undefined)
      .map((i) => i.target!);
    graph.set(file.path, targets);
  }
  return stronglyConnected(graph)
    .filter((c) => c.length > 1 || (graph.get(c[0]) ?? []).includes(c[0]))
    .map((c) => c.toSorted().join(" -> "))
    .filter((name) => !allowed.has(name))
    .map((name) => `value-import cycle: ${name}`);
}

/** Tarjan's algorithm, iterative (bounded by the graph's size). */
function stronglyConnected(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let counter = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const edges = graph.get(top.node) ?? [];
      if (top.next < edges.length) {
        const to = edges[top.next++];
        if (!graph.has(to)) continue;
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, next: 0 });
        } else if (onStack.has(to)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== top.node);
        out.push(component);
      }
    }
  }
  return out;
}

const LINK_RE = /\]\(([^)\s]+)\)/g;
const FILE_RE =
  /(?<![\w./@:*<>-])((?:\.{1,2}\/|\/)?[\w.-]+(?:\/[\w.-]+)*\.(?:ts|md|json|sh|ya?ml))(?![\w/*])/g;

/**
 * Every relative link in the docs, and every file named in the docs or in a code comment,
 * resolves inside the repository, and none cites an issue tracker's number: relative to the file, to the root, or (for a name with a
 * folder) as the tail of a path in the tree; a bare name must be some file's name. A name in
 * `placeholders` stands for any file (`x_test.ts`) and is not looked up.
 */
export function references(tree: Tree, placeholders: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  const names = new Set(tree.files.map((f) => baseOf(f.path)));
  const paths = tree.files.map((f) => f.path);
  const found = (ref: string, from: string): boolean => {
    if (placeholders.has(ref)) return true;
    // `Envelope.ts` in prose is the field `ts` of a type; a module name is snake_case.
    if (!ref.includes("/") && ref.endsWith(".ts") && !/^[a-z0-9_]+\.ts$/.test(ref)) return true;
    // `/openapi.json` is a route; an absolute path with folders is a file outside the repo.
    if (ref.startsWith("/")) return ref.indexOf("/", 1) === -1;
    const local = normalize(`${dirOf(from)}/${ref}`);
    if (local !== undefined && tree.has(local)) return true;
    if (ref.startsWith("../")) return false;
    if (ref.startsWith("./")) ref = ref.slice(2); // in a shell example: from the root
    if (tree.has(ref)) return true;
    if (!ref.includes("/")) return names.has(ref) || tree.has(ref);
    return paths.some((p) => p.endsWith(`/${ref}`));
  };
  for (const file of tree.files) {
    const text = isTs(file) ? splitCode(file.text).comments : file.text;
    const blank = (m: string) => " ".repeat(m.length); // keeps offsets, hence line numbers
    let plain = text.replace(/\b(?:https?|wss?):\/\/\S+|\bnpm:\S+|\bjsr:\S+/g, blank);
    const lineOf = (at: number) => text.slice(0, at).split("\n").length;
    if (!isTs(file)) {
      for (const m of plain.matchAll(LINK_RE)) {
        const target = m[1].split("#")[0];
        if (target === "" || /^[a-z]+:/.test(m[1])) continue;
        if (!found(target, file.path)) {
          out.push(`${file.path}:${lineOf(m.index)} links to ${m[1]}, not in the repository`);
        }
      }
      plain = plain.replace(LINK_RE, blank); // a link target is checked once, as a link
    }
    for (const m of plain.matchAll(FILE_RE)) {
      if (!found(m[1], file.path)) {
        out.push(`${file.path}:${lineOf(m.index)} names ${m[1]}, not in the repository`);
      }
    }
    for (const m of plain.matchAll(ISSUE_RE)) {
      out.push(`${file.path}:${lineOf(m.index)} cites "${m[0]}", a tracker a clone does not have`);
    }
  }
  return out;
}

/** A tracker's number (the word issue, then a number): the why belongs in the repo's own docs. */
const ISSUE_RE = /\b[Ii]ssue #?\d+/g;

/** Limits of `sizes`. */
export const FUNCTION_LINES_MAX = 80;
export const FILE_LINES_MAX = 500;

/**
 * No function (declaration, method or arrow function with a block body) over
 * `FUNCTION_LINES_MAX` lines and no non-test file over `FILE_LINES_MAX`, unless `allowed` names
 * it (`path` for a file, `path:name` for a function, where `name` is the function's name or the
 * text its header starts with).
 */
export function sizes(tree: Tree, allowed: ReadonlyMap<string, string> = new Map()): string[] {
  const out: string[] = [];
  for (const file of tree.files.filter(isTs)) {
    const lines = file.text.split("\n").length - (file.text.endsWith("\n") ? 1 : 0);
    if (!isTest(file.path) && lines > FILE_LINES_MAX && !allowed.has(file.path)) {
      out.push(`${file.path}: ${lines} lines (at most ${FILE_LINES_MAX})`);
    }
    for (const fn of functionsOf(file)) {
      if (fn.lines > FUNCTION_LINES_MAX && !allowed.has(`${file.path}:${fn.name}`)) {
        out.push(
          `${file.path}:${fn.line} ${fn.name}: ${fn.lines} lines (at most ${FUNCTION_LINES_MAX})`,
        );
      }
    }
  }
  return out;
}

/** A function's name (or header start), first line and length in lines. */
export interface FunctionSpan {
  readonly name: string;
  readonly line: number;
  readonly lines: number;
}

const CONTROL = /^(?:if|for|while|switch|catch|with|else|do|try|finally)\b/;

/** The functions of a file: every block whose header is a function's (see `sizes`). */
export function functionsOf(file: SourceFile): FunctionSpan[] {
  const { code } = splitCode(file.text);
  const out: FunctionSpan[] = [];
  const open: { line: number; name: string | undefined }[] = [];
  let line = 1;
  let headerStart = 0;
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (c === "\n") line++;
    else if (c === "{") {
      const name = functionName(code.slice(headerStart, i), file.text.slice(headerStart, i));
      open.push({ line, name });
      headerStart = i + 1;
    } else if (c === "}") {
      const block = open.pop();
      if (block?.name !== undefined) {
        out.push({ name: block.name, line: block.line, lines: line - block.line + 1 });
      }
      headerStart = i + 1;
    } else if (c === ";") headerStart = i + 1;
  }
  return out;
}

/** The name of the function whose body a `{` after `header` opens, or undefined. */
function functionName(header: string, original: string): string | undefined {
  const h = header.replace(/\s+/g, " ").trim();
  if (h === "" || CONTROL.test(h)) return undefined;
  const fn = /\bfunction\s*\*?\s*([\w$]*)\s*(?:<[^(]*>)?\s*\(/.exec(h);
  if (fn) return fn[1] || "function";
  if (/=>$/.test(h)) {
    const bound =
      /^(?:(?:export|const|let|var|readonly|static|private)\s+)*([\w$#]+)\s*(?::[^=]*)?=/
        .exec(h);
    if (bound) return bound[1];
    // A callback: named by the first string of its call (`Deno.test("name", ...)`).
    const label = /"([^"]*)"|'([^']*)'|`([^`]*)`/.exec(original);
    return label ? (label[1] ?? label[2] ?? label[3]) : h.slice(0, 40);
  }
  const method =
    /^(?:(?:public|private|protected|static|async|override|readonly|get|set)\s+)*\*?([\w$#]+)\s*(?:<.*>)?\s*\(.*\)\s*(?::.+)?$/
      .exec(h);
  return method && !CONTROL.test(method[1]) ? method[1] : undefined;
}

/** What the error-name rules compare: the registry, the broker's reasons, the client's classes. */
export interface ErrorNames {
  /** Problem type to HTTP status (`PROBLEMS` in src/http/problems.ts). */
  readonly problems: Readonly<Record<string, { readonly status: number }>>;
  /** Broker reason to problem type (`BROKER_REASON_PROBLEMS`). */
  readonly reasons: Readonly<Record<string, string>>;
  /** Problem type to client error class (`ERROR_CLASSES` in src/client/errors.ts). */
  readonly classes: Readonly<Record<string, { readonly name: string }>>;
}

/**
 * The error table of docs/http.md (the rows of the table under "## Errors") lists exactly the
 * registry's problem types, each with its status, broker reason and client class.
 */
export function errorTable(markdown: string, names: ErrorNames): string[] {
  const out: string[] = [];
  const section = markdown.split(/^## /m).find((s) => s.startsWith("Errors")) ?? "";
  const rows = section.split("\n").filter((l) => /^\| `/.test(l))
    .map((l) => l.split("|").slice(1, -1).map((cell) => cell.trim().replaceAll("`", "")));
  const listed = new Set(rows.map((r) => r[0]));
  for (const type of Object.keys(names.problems)) {
    if (!listed.has(type)) out.push(`docs error table lacks ${type}`);
  }
  const reasonOf = new Map(Object.entries(names.reasons).map(([reason, type]) => [type, reason]));
  for (const [type, status, reason, klass] of rows) {
    const spec = names.problems[type];
    if (spec === undefined) {
      out.push(`docs error table lists ${type}, not in the registry`);
      continue;
    }
    if (Number(status) !== spec.status) out.push(`docs: ${type} is ${spec.status}, not ${status}`);
    if ((reasonOf.get(type) ?? "") !== reason) {
      out.push(
        `docs: ${type} comes from broker reason "${reasonOf.get(type) ?? ""}", not "${reason}"`,
      );
    }
    if (names.classes[type]?.name !== klass) {
      out.push(`docs: ${type} is client class ${names.classes[type]?.name}, not ${klass}`);
    }
  }
  return out;
}

/** Every problem type of the registry has a client error class. */
export function clientClasses(names: ErrorNames): string[] {
  return Object.keys(names.problems).filter((type) => !Object.hasOwn(names.classes, type))
    .map((type) => `problem type ${type} has no client error class in ERROR_CLASSES`);
}

/** Globals that one of the gateway's runtimes lacks (Deno's, Node's, a Worker's own). */
const RUNTIME_GLOBALS =
  /\b(Deno|process|Buffer|require|__dirname|__filename|setImmediate|WebSocketPair|HTMLRewriter)\b/;

/** Packages the gateway may import: portable, web APIs only. */
const PORTABLE_PACKAGES = /^hono(\/|$)/;

/**
 * The edge gateway runs in Deno and in a Worker, so every file that `src/edge` reaches by value
 * imports (tests aside; type-only imports are erased) uses only what both offer: fetch,
 * WebSocket, crypto.subtle, streams, timers. No runtime's globals, no `node:`/`npm:`/`jsr:`
 * specifiers, no package but the portable ones. The entries of each runtime are outside
 * `src/edge` (`src/edge_targets/`).
 */
export function edgePortable(
  tree: Tree,
  allowed: ReadonlyMap<string, string> = new Map(),
  root = "src/edge/",
): string[] {
  const byPath = new Map(tree.files.map((f) => [f.path, f]));
  const reached = new Set<string>();
  const queue = tree.files.filter((f) => f.path.startsWith(root) && isTs(f) && !isTest(f.path))
    .map((f) => f.path);
  // Bounded by the tree: each file is visited once.
  while (queue.length > 0) {
    const path = queue.pop()!;
    if (reached.has(path)) continue;
    reached.add(path);
    const file = byPath.get(path);
    if (file === undefined) continue;
    for (const imp of importsOf(file)) {
      if (!imp.typeOnly && imp.target !== undefined && !reached.has(imp.target)) {
        queue.push(imp.target);
      }
    }
  }
  const out: string[] = [];
  for (const path of [...reached].sort()) {
    const file = byPath.get(path);
    if (file === undefined || allowed.has(path)) continue;
    for (const m of file.text.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)"/gm)) {
      const spec = m[1];
      if (spec.startsWith(".") || (m[0].match(/^(import|export)\s+type\s/) !== null)) continue;
      if (/^(node|npm|jsr):/.test(spec) || !PORTABLE_PACKAGES.test(spec)) {
        const line = file.text.slice(0, m.index).split("\n").length;
        out.push(`${path}:${line} imports ${spec}, which the edge gateway's runtimes may lack`);
      }
    }
    const lines = splitCode(file.text).code.split("\n");
    for (let n = 0; n < lines.length; n++) {
      const bad = RUNTIME_GLOBALS.exec(lines[n]);
      if (bad) out.push(`${path}:${n + 1} uses ${bad[1]}, which the edge gateway's runtimes lack`);
    }
  }
  return out;
}
