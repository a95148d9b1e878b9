/**
 * The summary table of a chaos run and its last line.
 *
 * @module
 */

import { VIOLATION_KINDS } from "./checker.ts";
import type { ChaosResult } from "./run.ts";

/** The table, the details of any violation, and the final `chaos: ...` line. */
export function summaryLines(r: ChaosResult): string[] {
  const c = r.check;
  const rows: [string, string][] = [
    ["operations", String(c.operations)],
    ["  ok / fail / unknown", `${c.outcomes.ok} / ${c.outcomes.fail} / ${c.outcomes.unknown}`],
    ["acknowledged messages", String(c.acknowledged)],
    ["deliveries", String(c.delivered)],
    ...VIOLATION_KINDS.map((k) => [k, String(c.counts[k])] as [string, string]),
    ["heal to first write", c.healToWriteMs === undefined ? "-" : `${c.healToWriteMs} ms`],
    [
      "longest write gap",
      c.longestWriteGap === undefined
        ? "-"
        : `${c.longestWriteGap.ms} ms from ${(c.longestWriteGap.fromMs / 1000).toFixed(1)} s`,
    ],
    ["elapsed", `${(r.elapsedMs / 1000).toFixed(0)} s`],
    ["network", r.network === "netns" ? "a namespace per node (iptables cuts)" : "loopback"],
  ];
  const faults = Object.entries(c.faults).sort();
  rows.push(["faults injected", String(faults.reduce((s, [, n]) => s + n, 0))]);
  for (const [k, n] of faults) rows.push([`  ${k}`, String(n)]);
  const w = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`);
  for (const d of c.details) lines.push(`VIOLATION ${d.kind}: ${d.detail}`);
  const errors = new Map<string, number>();
  for (const e of r.nemesisErrors) errors.set(e, (errors.get(e) ?? 0) + 1);
  for (const [e, n] of [...errors].slice(0, 20)) {
    lines.push(`nemesis: ${e}${n > 1 ? ` (x${n})` : ""}`);
  }
  for (const s of r.skipped) lines.push(`skipped: ${s}`);
  lines.push(
    `chaos: ${c.acknowledged} acked, ${c.counts.lost} lost, ${c.counts.duplicated} duplicated, ` +
      `${c.violations} violations`,
  );
  return lines;
}
