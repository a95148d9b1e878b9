/**
 * The cluster page: every member as it sees itself (role, term, commit and applied index) and
 * as the leader sees it (match index, last contact), the lag, the leader; leadership transfer
 * and member add/remove for admins; this node's recent events.
 *
 * @module
 */

import type { ClusterView } from "../http/mod.ts";
import type { ClusterEvent } from "./events.ts";
import { Layout, n, type PageFrame } from "./layout.tsx";

/** One member as the page shows it. */
export interface MemberRow {
  readonly id: string;
  readonly url: string;
  /** The member's own view, or undefined when it did not answer. */
  readonly own: ClusterView | undefined;
  /** From the leader's view (or this node's when no leader answered). */
  readonly role: string;
  readonly matchIndex: number;
  /** Ms since the leader heard from it; undefined for the leader itself or when unknown. */
  readonly lastContactMs: number | undefined | null;
}

export interface ClusterPageData {
  readonly local: ClusterView;
  readonly members: readonly MemberRow[];
  readonly events: readonly ClusterEvent[];
}

/** Entries a member still has to apply to reach the leader's commit index. */
export function lagOf(row: MemberRow, leaderCommit: number): number | undefined {
  return row.own === undefined ? undefined : Math.max(0, leaderCommit - row.own.appliedIndex);
}

export function ClusterPage(props: { frame: PageFrame; data: ClusterPageData }) {
  const { frame, data } = props;
  const leaderId = data.local.leaderId;
  const leaderRow = data.members.find((m) => m.id === leaderId);
  const leaderCommit = leaderRow?.own?.commitIndex ?? data.local.commitIndex;
  return (
    <Layout frame={frame} title="Cluster">
      <section class="summary" data-live="cluster">
        <Stat label="Leader" id="leader" value={leaderId === "" ? "none" : leaderId} />
        <Stat label="Term" id="term" value={n(data.local.term)} />
        <Stat label="Commit index" id="commit" value={n(data.local.commitIndex)} />
        <Stat label="Applied here" id="applied" value={n(data.local.appliedIndex)} />
        <Stat label="Members" id="members" value={String(data.members.length)} />
      </section>
      <section class="card">
        <h2>Nodes</h2>
        <div class="scroll">
          <table id="nodes">
            <thead>
              <tr>
                <th>Node</th>
                <th>Role</th>
                <th class="num opt">Term</th>
                <th class="num opt">Commit</th>
                <th class="num">Applied</th>
                <th class="num">Lag</th>
                <th class="num opt">Match</th>
                <th class="opt">Link</th>
                {frame.viewer.clusterAdmin ? <th>Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {data.members.map((m) => (
                <NodeRow row={m} frame={frame} leaderId={leaderId} lag={lagOf(m, leaderCommit)} />
              ))}
            </tbody>
          </table>
        </div>
      </section>
      {frame.viewer.clusterAdmin ? <AddMember /> : null}
      <Events events={data.events} nodeId={frame.nodeId} />
    </Layout>
  );
}

function Stat(props: { label: string; id: string; value: string }) {
  return (
    <div class="stat">
      <span class="label">{props.label}</span>
      <span class="value" id={`stat-${props.id}`}>{props.value}</span>
    </div>
  );
}

function NodeRow(props: { row: MemberRow; frame: PageFrame; leaderId: string; lag?: number }) {
  const { row, frame } = props;
  const isLeader = row.id === props.leaderId;
  // A node knows its own role best (the leader's view says "follower" of a candidate).
  const role = row.own?.members.find((m) => m.id === row.id)?.role ?? row.role;
  const link = row.own === undefined && !frame.viewer.clusterAdmin
    ? <span class="muted">admins only</span>
    : row.own === undefined
    ? <span class="bad">no answer</span>
    : row.lastContactMs === undefined || row.lastContactMs === null
    ? <span class="muted">{isLeader ? "self" : "-"}</span>
    : <span class={row.lastContactMs > 2000 ? "bad" : "good"}>{row.lastContactMs} ms ago</span>;
  return (
    <tr data-node={row.id} class={isLeader ? "leader" : ""}>
      <td>
        <b>{row.id}</b> {isLeader ? <span class="badge leader-badge">leader</span> : null}
        <div class="muted small url">{row.url}</div>
      </td>
      <td>
        <span class={`role role-${role}`}>{role}</span>
      </td>
      <td class="num opt">{n(row.own?.term)}</td>
      <td class="num opt">{n(row.own?.commitIndex)}</td>
      <td class="num">{n(row.own?.appliedIndex)}</td>
      <td class="num">{n(props.lag)}</td>
      <td class="num opt">{n(row.matchIndex)}</td>
      <td class="opt">{link}</td>
      {frame.viewer.clusterAdmin
        ? (
          <td class="actions">
            {isLeader ? null : (
              <a
                class="button small"
                href={`/ui/cluster/transfer?to=${encodeURIComponent(row.id)}`}
              >
                Make leader
              </a>
            )}
            <a
              class="button small danger"
              href={`/ui/cluster/members/${encodeURIComponent(row.id)}/remove`}
            >
              Remove
            </a>
          </td>
        )
        : null}
    </tr>
  );
}

function AddMember() {
  return (
    <section class="card">
      <h2>Add a member</h2>
      <p class="muted">
        Start the new node with <code>--join</code>{" "}
        first; it joins as a learner and becomes a voter once caught up.
      </p>
      <form method="get" action="/ui/cluster/members/add" class="row">
        <input name="id" placeholder="id, e.g. n4" required pattern="[A-Za-z0-9._-]{1,128}" />
        <input name="url" placeholder="http://host:port" required type="url" />
        <button type="submit">Add…</button>
      </form>
    </section>
  );
}

function Events(props: { events: readonly ClusterEvent[]; nodeId: string }) {
  return (
    <section class="card">
      <h2>Recent events seen by {props.nodeId}</h2>
      {props.events.length === 0 ? <p class="muted">None yet.</p> : (
        <ol class="events" id="events">
          {props.events.map((e) => (
            <li>
              <time>{new Date(e.at).toISOString().slice(11, 23)}</time>{" "}
              <b>{e.event.replaceAll("_", " ")}</b>{" "}
              <span class="muted">
                {Object.entries(e.details).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")}
              </span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
