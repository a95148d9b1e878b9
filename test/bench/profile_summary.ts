/**
 * The functions with the most self time in V8 CPU profiles (`.cpuprofile`, as
 * `test/bench/profiled_main.ts` writes them): `deno run -A test/bench/profile_summary.ts
 * [--top 30] <file>...`. Idle time is left out of the busy total.
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const topAt = Deno.args.indexOf("--top");
const TOP = topAt >= 0 ? Number(Deno.args[topAt + 1]) : 30;
const files = Deno.args.filter((a, i) => a !== "--top" && i !== topAt + 1);

for (const file of files) {
  const p = JSON.parse(await Deno.readTextFile(file)) as Profile;
  const us = new Map<number, number>();
  p.samples.forEach((id, i) => us.set(id, (us.get(id) ?? 0) + p.timeDeltas[i]));
  const self = new Map<string, number>();
  for (const n of p.nodes) {
    const f = n.callFrame;
    const where = f.url.split("/").slice(-2).join("/");
    const key = `${f.functionName || "(anonymous)"} ${where}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (us.get(n.id) ?? 0));
  }
  let busy = 0;
  for (const [k, v] of self) if (!k.startsWith("(idle)")) busy += v;
  console.log(`${file}: busy ${(busy / 1000).toFixed(0)} ms`);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    console.log(`${(v / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  }
}
