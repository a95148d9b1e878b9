/**
 * CPU time of a process from `/proc`, for the benches that report CPU per message.
 *
 * @module
 */

/** CPU seconds (user + system, all threads) of process `pid` (this one by default) so far. */
export function cpuSeconds(pid: number | "self" = "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
