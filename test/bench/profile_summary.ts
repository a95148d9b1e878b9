/**
 * The functions with the most self time in V8 CPU profiles (`.cpuprofile`, as
 * `test/bench/profiled_main.ts` writes them): `deno run -A test/bench/profile_summary.ts
 * [--top 30] [--inclusive] <file>...`. Idle time is left out of the busy total. With `--inclusive`
 * it lists total time (the function and what it called, each function counted once per sample)
 * instead of self time. A `.heapprofile` (`QQ_PROFILE_HEAP=1`) lists the bytes allocated instead.
 *
 * @module
 */

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const topAt = Deno.args.indexOf("--top");
const TOP = topAt >= 0 ? Number(Deno.args[topAt + 1]) : 30;
const INCLUSIVE = Deno.args.includes("--inclusive");
const files = Deno.args.filter((a, i) =>
  a !== "--top" && a !== "--inclusive" && (topAt < 0 || i !== topAt + 1)
);

const keyOf = (n: ProfileNode) => {
  const f = n.callFrame;
  const where = f.url.split("/").slice(-2).join("/");
  return `${f.functionName || "(anonymous)"} ${where}:${f.lineNumber + 1}`;
};

/** Each node's time with its callees', counting a function once per stack (recursion). */
function inclusive(p: Profile, us: Map<number, number>): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const total = new Map<string, number>();
  for (const [id, t] of us) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = keyOf(byId.get(at)!);
      if (!seen.has(key)) total.set(key, (total.get(key) ?? 0) + t);
      seen.add(key);
    }
  }
  return total;
}

/** A sampling heap profile's node: bytes allocated in the function itself, and its callees. */
interface HeapNode {
  callFrame: ProfileNode["callFrame"];
  selfSize: number;
  children: HeapNode[];
}

/** Bytes allocated by each function (with `--inclusive`: and its callees, once per stack). */
function heapSummary(file: string, head: HeapNode): void {
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const walk = (n: HeapNode, stack: readonly string[]): number => {
    const key = keyOf({ id: 0, callFrame: n.callFrame });
    self.set(key, (self.get(key) ?? 0) + n.selfSize);
    let sum = n.selfSize;
    for (const c of n.children) sum += walk(c, [...stack, key]);
    if (!stack.includes(key)) total.set(key, (total.get(key) ?? 0) + sum);
    return sum;
  };
  const all = walk(head, []);
  console.log(`${file}: allocated ${(all / 1e6).toFixed(1)} MB`);
  const shown = INCLUSIVE ? total : self;
  for (const [k, v] of [...shown].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${(v / 1e6).toFixed(2).padStart(8)} MB  ${k}`);
  }
}

for (const file of files) {
  const parsed = JSON.parse(await Deno.readTextFile(file));
  if ("head" in parsed) {
    heapSummary(file, parsed.head as HeapNode);
    continue;
  }
  const p = parsed as Profile;
  const us = new Map<number, number>();
  p.samples.forEach((id, i) => us.set(id, (us.get(id) ?? 0) + p.timeDeltas[i]));
  const self = new Map<string, number>();
  for (const n of p.nodes) {
    const key = keyOf(n);
    self.set(key, (self.get(key) ?? 0) + (us.get(n.id) ?? 0));
  }
  let busy = 0;
  for (const [k, v] of self) if (!k.startsWith("(idle)")) busy += v;
  const shown = INCLUSIVE ? inclusive(p, us) : self;
  console.log(`${file}: busy ${(busy / 1000).toFixed(0)} ms`);
  for (const [k, v] of [...shown].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${(v / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  }
}
