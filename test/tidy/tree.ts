/**
 * The source tree as the tidy rules see it: every `.ts` and `.md` file under a root (its own
 * `node_modules`, data and chaos run directories left out), its text, its code with comments and
 * literals blanked, and its imports. Read-only: nothing here writes.
 *
 * @module
 */

/** One file of the tree. */
export interface SourceFile {
  /** Path from the root, `/`-separated, e.g. `src/http/app.ts`. */
  readonly path: string;
  readonly text: string;
}

/** The files of a tree, by path. */
export interface Tree {
  readonly files: readonly SourceFile[];
  has(path: string): boolean;
}

/** What deno.json excludes too: dependencies, node data, chaos runs (with their code copies). */
const SKIP_DIRS = new Set(["node_modules", "data", "test/chaos/runs"]);

/** Reads every `.ts` and `.md` file under `root` (bounded: at most 5,000 files). */
export async function readTree(root: string): Promise<Tree> {
  const files: SourceFile[] = [];
  const all = new Set<string>();
  const walk = async (dir: string, rel: string) => {
    for await (const entry of Deno.readDir(dir)) {
      if (all.size > 5_000) throw new Error(`More than 5,000 files under ${root}`);
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory) {
        const skip = SKIP_DIRS.has(path) || entry.name === "node_modules";
        if (!skip && !entry.name.startsWith(".")) {
          await walk(`${dir}/${entry.name}`, path);
        }
        continue;
      }
      all.add(path);
      if (/\.(ts|md)$/.test(entry.name)) {
        try {
          files.push({ path, text: await Deno.readTextFile(`${dir}/${entry.name}`) });
        } catch (e) {
          // A test running in parallel may remove its own file between the listing and the read.
          if (!(e instanceof Deno.errors.NotFound)) throw e;
          all.delete(path);
        }
      }
    }
  };
  await walk(root, "");
  files.sort((a, b) => a.path < b.path ? -1 : 1);
  return { files, has: (path) => all.has(path) || isDir(all, path) };
}

function isDir(all: ReadonlySet<string>, path: string): boolean {
  const prefix = path.endsWith("/") ? path : `${path}/`;
  for (const p of all) if (p.startsWith(prefix)) return true;
  return false;
}

/** `a/b/../c` → `a/c`; undefined when it climbs out of the root. */
export function normalize(path: string): string | undefined {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(part);
  }
  return out.join("/");
}

export const dirOf = (path: string) =>
  path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
export const baseOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/** A relative import of a file: where it points and whether it brings values (not only types). */
export interface Import {
  /** The resolved path from the root; undefined when it climbs out of the root. */
  readonly target: string | undefined;
  readonly specifier: string;
  readonly typeOnly: boolean;
  readonly line: number;
}

const IMPORT_RE =
  /^(import|export)\s+(type\s+)?([^;]*?)\s*from\s+"(\.\.?\/[^"]+)"|^import\s+"(\.\.?\/[^"]+)"/gm;

/** The relative static imports and re-exports of a TypeScript file. */
export function importsOf(file: SourceFile): Import[] {
  const out: Import[] = [];
  for (const m of file.text.matchAll(IMPORT_RE)) {
    const specifier = m[4] ?? m[5];
    const clause = m[3] ?? "";
    const typeOnly = m[2] !== undefined || allTypeSpecifiers(clause);
    out.push({
      specifier,
      target: normalize(`${dirOf(file.path)}/${specifier}`),
      typeOnly,
      line: file.text.slice(0, m.index).split("\n").length,
    });
  }
  return out;
}

/** `{ type A, type B }` (every specifier a type) is erased like `import type`. */
function allTypeSpecifiers(clause: string): boolean {
  const braces = /^\{([^}]*)\}$/s.exec(clause.trim());
  if (!braces) return false;
  const names = braces[1].split(",").map((s) => s.trim()).filter((s) => s !== "");
  return names.length > 0 && names.every((n) => n.startsWith("type "));
}

/**
 * The code of a TypeScript file with comments, strings, template literals and regular expression
 * literals replaced by spaces (newlines kept), so braces and line numbers can be counted. The
 * comments, in the same positions, come back separately.
 */
export function splitCode(text: string): { code: string; comments: string } {
  const code = [...text];
  const comments: string[] = [...text].map((c) => c === "\n" ? "\n" : " ");
  const blank = (from: number, to: number, keep: boolean) => {
    for (let k = from; k < to; k++) {
      if (code[k] === "\n") continue;
      if (keep) comments[k] = code[k];
      code[k] = " ";
    }
  };
  let i = 0;
  let last = ""; // the last significant code character, to tell a regex from a division
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    let end = i + 1;
    if (c === "/" && next === "/") {
      end = text.indexOf("\n", i);
      if (end === -1) end = text.length;
      blank(i, end, true);
    } else if (c === "/" && next === "*") {
      end = text.indexOf("*/", i + 2);
      end = end === -1 ? text.length : end + 2;
      blank(i, end, true);
    } else if (c === '"' || c === "'") {
      end = endOfQuoted(text, i, c);
      blank(i + 1, end - 1, false);
    } else if (c === "`") {
      end = endOfTemplate(text, i);
      blank(i + 1, end - 1, false);
    } else if (c === "/" && (last === "" || "(,=:[!&|?{};+-*%<>~^".includes(last))) {
      end = endOfRegex(text, i);
      blank(i + 1, end - 1, false);
    }
    const comment = c === "/" && (next === "/" || next === "*");
    if (end > i + 1 && !comment) last = "a"; // a literal: an operand, so `/` after it divides
    else if (!comment && !/\s/.test(c)) last = c;
    i = end;
  }
  return { code: code.join(""), comments: comments.join("") };
}

function endOfQuoted(text: string, start: number, quote: string): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === quote || text[i] === "\n") return i + 1;
  }
  return text.length;
}

/** The end of a template literal, skipping `${...}` with nested braces and strings. */
function endOfTemplate(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\") i += 2;
    else if (c === "`") return i + 1;
    else if (c === "$" && text[i + 1] === "{") {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        const d = text[i];
        if (d === "{") depth++;
        else if (d === "}") depth--;
        else if (d === '"' || d === "'") i = endOfQuoted(text, i, d) - 1;
        else if (d === "`") i = endOfTemplate(text, i) - 1;
        i++;
      }
    } else i++;
  }
  return text.length;
}

function endOfRegex(text: string, start: number): number {
  let inClass = false;
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === "\n") return start + 1; // not a regex after all: a lone division sign
    else if (c === "[") inClass = true;
    else if (c === "]") inClass = false;
    else if (c === "/" && !inClass) {
      let j = i + 1;
      while (/[a-z]/.test(text[j] ?? "")) j++;
      return j;
    }
  }
  return start + 1;
}
