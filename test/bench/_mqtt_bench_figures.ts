/**
 * What `mqtt_bench.ts` reads of a process and of a node, and its order statistics: CPU time and
 * system calls from `/proc`, a node's proposed entries from its metrics.
 *
 * @module
 */

/** utime+stime of a process in microseconds (Linux /proc; clock ticks are 100 Hz here). */
export function cpuUs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** A process's write and read system calls so far (`/proc/<pid>/io`: syscw, syscr). */
export function syscalls(pid: number): { w: number; r: number } {
  const io = Deno.readTextFileSync(`/proc/${pid}/io`);
  const field = (name: string) => Number(io.match(new RegExp(`^${name}: (\\d+)`, "m"))?.[1] ?? NaN);
  return { w: field("syscw"), r: field("syscr") };
}

/** The Raft entries a quorumq node has proposed (`quorumq_proposal_entries_total`). */
export async function entriesOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("quorumq_proposal_entries_total"));
  return Number(line?.split(" ").at(-1) ?? NaN);
}

export function pct(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
