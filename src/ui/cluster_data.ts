/**
 * The cluster as the dashboard shows it: every member's own view (asked over HTTP, as the
 * viewer) joined with the leader's; the cluster page renders it and the live stream sends it
 * again each second so the node rows move.
 *
 * @module
 */

import type { ClusterView } from "../http/mod.ts";
import type { UiDeps } from "./context.ts";
import { lagOf, type MemberRow } from "./page_cluster.tsx";

/** How long the cluster page waits for another member's own view. */
const MEMBER_VIEW_TIMEOUT_MS = 1_000;

/** Every member's own view (asked over HTTP, as this viewer), joined with the leader's. */
export async function clusterData(
  deps: UiDeps,
  token: string | undefined,
): Promise<{ local: ClusterView; members: MemberRow[] }> {
  const local = deps.node.clusterView();
  const views = await Promise.all(
    local.members.map((m) =>
      m.id === local.nodeId ? Promise.resolve(local) : memberView(m.url, token)
    ),
  );
  const leaderView = views.find((v) => v !== undefined && v.nodeId === v.leaderId) ?? local;
  const members: MemberRow[] = local.members.map((m, i) => {
    const seen = leaderView.members.find((x) => x.id === m.id) ?? m;
    return {
      id: m.id,
      url: m.url,
      own: views[i],
      role: seen.role,
      matchIndex: seen.matchIndex,
      lastContactMs: seen.lastContactMs ?? undefined,
    };
  });
  return {
    local: leaderView === local ? local : { ...local, leaderId: leaderView.leaderId },
    members,
  };
}

async function memberView(
  url: string,
  token: string | undefined,
): Promise<ClusterView | undefined> {
  try {
    const res = await fetch(`${url}/v1/cluster?consistency=stale`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(MEMBER_VIEW_TIMEOUT_MS),
    });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const v = await res.json() as ClusterView & { leaderId: string | null };
    return { ...v, leaderId: v.leaderId ?? "" };
  } catch {
    return undefined; // shown as "no answer"
  }
}

/** One node row's numbers for a live update (undefined: the member did not answer). */
export interface NodeSample {
  readonly id: string;
  readonly role: string;
  readonly term?: number;
  readonly commitIndex?: number;
  readonly appliedIndex?: number;
  readonly lag?: number;
  readonly matchIndex: number;
  readonly lastContactMs?: number;
}

/** The node rows of the cluster page, as numbers. */
export async function nodeSamples(deps: UiDeps, token: string | undefined): Promise<NodeSample[]> {
  const data = await clusterData(deps, token);
  const leaderRow = data.members.find((m) => m.id === data.local.leaderId);
  const leaderCommit = leaderRow?.own?.commitIndex ?? data.local.commitIndex;
  return data.members.map((m) => {
    const own = m.own;
    const lag = lagOf(m, leaderCommit);
    return {
      id: m.id,
      role: own?.members.find((x) => x.id === m.id)?.role ?? m.role,
      ...(own
        ? { term: own.term, commitIndex: own.commitIndex, appliedIndex: own.appliedIndex }
        : {}),
      ...(lag !== undefined ? { lag } : {}),
      matchIndex: m.matchIndex,
      ...(typeof m.lastContactMs === "number" ? { lastContactMs: m.lastContactMs } : {}),
    };
  });
}
