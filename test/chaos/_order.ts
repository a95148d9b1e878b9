/**
 * The chaos checker's order rules (promise 5): seq order within one receive answer, first
 * deliveries in seq order on a plain queue, one message at a time and in order per fifo group.
 *
 * @module
 */

import { type Add, type Delivery, type Facts, key } from "./_facts.ts";

export function checkOrder(f: Facts, add: Add): void {
  for (const one of f.receives) {
    for (let i = 1; i < one.length; i++) {
      if (one[i].seq <= one[i - 1].seq) {
        add(
          "order",
          `${one[i].source}: one receive answered seq ${one[i - 1].seq} then ${one[i].seq}`,
        );
      }
    }
  }
  const bySource = new Map<string, Delivery[]>();
  for (const d of f.deliveries) {
    let l = bySource.get(d.source);
    if (l === undefined) bySource.set(d.source, l = []);
    l.push(d);
  }
  for (const [source, ds] of bySource) {
    if (f.sources[source]?.fifo) checkFifo(f, source, ds, add);
    else checkFirstDeliveries(source, ds, add);
  }
}

/**
 * A plain queue hands out ready messages lowest seq first, so a receive that began after another
 * completed cannot give a first delivery (attempt 1: never leased before) of a lower seq.
 */
function checkFirstDeliveries(source: string, ds: Delivery[], add: Add): void {
  const firsts = ds.filter((d) => d.attempt === 1);
  const byComp = [...firsts].sort((a, b) => a.comp - b.comp);
  const byInv = [...firsts].sort((a, b) => a.inv - b.inv);
  let j = 0;
  let maxSeq = -Infinity;
  let maxId = "";
  for (const d of byInv) {
    while (j < byComp.length && byComp[j].comp < d.inv) {
      if (byComp[j].seq > maxSeq) [maxSeq, maxId] = [byComp[j].seq, byComp[j].id];
      j++;
    }
    if (d.seq < maxSeq) {
      add(
        "order",
        `${source}: first delivery of seq ${d.seq} (${d.id}) began at ${d.inv} ms, after seq ` +
          `${maxSeq} (${maxId}) was first delivered`,
      );
    }
  }
}

/** fifo: within a group, one message at a time, in seq order. */
function checkFifo(f: Facts, source: string, ds: Delivery[], add: Add): void {
  const groups = new Map<string, Delivery[]>();
  for (const d of ds) {
    const g = d.group ?? "";
    let l = groups.get(g);
    if (l === undefined) groups.set(g, l = []);
    l.push(d);
  }
  const knownSeqs = new Map<string, Map<number, string>>();
  for (const target of f.sources[source]?.fedBy ?? []) {
    for (const [k, seqs] of f.seqs) {
      if (!k.startsWith(`${target}|`)) continue;
      const id = k.slice(target.length + 1);
      const g = f.publishedGroup.get(k) ?? "";
      let m = knownSeqs.get(g);
      if (m === undefined) knownSeqs.set(g, m = new Map());
      for (const s of seqs) m.set(s, id);
    }
  }
  for (const [g, list] of groups) {
    const known = knownSeqs.get(g) ?? new Map<number, string>();
    for (const d of list) known.set(d.seq, d.id);
    checkGroup(f, source, g, list, known, add);
  }
}

function checkGroup(
  f: Facts,
  source: string,
  g: string,
  list: Delivery[],
  known: Map<number, string>,
  add: Add,
): void {
  const bySeq = [...list].sort((a, b) => a.seq - b.seq);
  const seqs = [...known.keys()].sort((a, b) => a - b);
  let maxInvLower = -Infinity;
  let lowerAckBy = -Infinity;
  let k = 0;
  let i = 0;
  while (i < bySeq.length) {
    const seq = bySeq[i].seq;
    while (k < seqs.length && seqs[k] < seq) {
      const at = f.firstAckInvokeAt.get(key(source, known.get(seqs[k])!)) ?? Infinity;
      lowerAckBy = Math.max(lowerAckBy, at);
      k++;
    }
    let j = i;
    for (; j < bySeq.length && bySeq[j].seq === seq; j++) {
      const d = bySeq[j];
      if (maxInvLower > d.comp) {
        add(
          "order",
          `${source} group ${g}: a lower seq was delivered after seq ${d.seq} (${d.id})`,
        );
      }
      if (lowerAckBy > d.comp) {
        add(
          "order",
          `${source} group ${g}: seq ${d.seq} (${d.id}) delivered at ${d.comp} ms before any ack ` +
            `of every lower seq began`,
        );
      }
    }
    for (let x = i; x < j; x++) maxInvLower = Math.max(maxInvLower, bySeq[x].inv);
    i = j;
  }
}
