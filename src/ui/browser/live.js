/**
 * The dashboard's browser module: listens to `/ui/live` (Server-Sent Events), updates the
 * numbers on the page, and draws message rates with uPlot. `deno task build:ui` bundles it with
 * uPlot into `src/ui/static/live.js`; nothing is fetched from anywhere but this node. Plain
 * JavaScript: the node's type check has no DOM library (src/ui/live.ts defines the samples).
 *
 * @module
 */

import uPlot from "uplot";

/** Points a chart keeps (two minutes at one update a second). */
const POINTS_MAX = 120;
const CHART_HEIGHT = 200;

/** @param {number} v */
const fmt = (v) => v.toLocaleString("en-US");

/** @param {string} id @param {string} text */
function setText(id, text) {
  const el = document.getElementById(id);
  if (el !== null && el.textContent !== text) el.textContent = text;
}

/** @param {number} v */
function bytes(v) {
  if (v < 1024) return `${v} B`;
  if (v < 1024 * 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${(v / 1024 / 1024).toFixed(1)} MiB`;
}

/** @param {string} label @param {string} stroke */
function series(label, stroke) {
  return {
    label,
    stroke,
    width: 2,
    points: { show: false },
    value: (_u, v) => v === null ? "-" : `${v.toFixed(1)}/s`,
  };
}

/** The rate chart: time on x; publish, ack and dead-letter rates per second. */
class RateChart {
  /** @param {HTMLElement} el */
  constructor(el) {
    this.el = el;
    this.data = [[], [], [], []];
    this.last = undefined;
    this.plot = new uPlot(
      {
        width: this.width(),
        height: CHART_HEIGHT,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        series: [
          {},
          series("published", "#2563eb"),
          series("acked", "#16a34a"),
          series("dead-lettered", "#dc2626"),
        ],
        legend: { live: false },
        axes: [
          {
            stroke: "#687086",
            space: 90,
            // Whole seconds at least: the formatter below shows no fractions.
            incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300],
            values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleTimeString()),
          },
          { size: 56, stroke: "#687086" },
        ],
      },
      this.data,
      el,
    );
    addEventListener(
      "resize",
      () => this.plot.setSize({ width: this.width(), height: CHART_HEIGHT }),
    );
  }

  width() {
    return Math.max(240, this.el.clientWidth);
  }

  /** Adds the rates since the previous sample as one point. */
  add(t, s) {
    const last = this.last;
    this.last = { t, s };
    if (last === undefined || t <= last.t) return;
    const dt = (t - last.t) / 1000;
    const rate = (k) => Math.max(0, (s[k] - last.s[k]) / dt);
    this.data[0].push(t / 1000);
    this.data[1].push(rate("published"));
    this.data[2].push(rate("acked"));
    this.data[3].push(rate("deadLettered"));
    if (this.data[0].length > POINTS_MAX) { for (const a of this.data) a.shift(); }
    this.plot.setData(this.data);
    this.el.dataset.points = String(this.data[0].length);
  }
}

function showSample(s) {
  setText("stat-leader", s.leaderId === "" ? "none" : s.leaderId);
  setText("stat-term", fmt(s.term));
  setText("stat-commit", fmt(s.commitIndex));
  setText("stat-applied", fmt(s.appliedIndex));
  if (s.queue !== undefined) {
    for (const k of ["ready", "leased", "delayed", "deadLettered", "published", "acked"]) {
      setText(`stat-${k}`, fmt(s.queue[k]));
    }
    setText("stat-bytes", bytes(s.queue.bytes));
  }
  for (const [name, stats] of Object.entries(s.rows ?? {})) {
    const row = document.querySelector(`tr[data-queue="${CSS.escape(name)}"]`);
    for (const cell of row?.querySelectorAll("td[data-k]") ?? []) {
      const k = cell.dataset.k;
      const text = k === "bytes" ? bytes(stats.bytes) : fmt(stats[k]);
      if (cell.textContent !== text) cell.textContent = text;
    }
  }
  setText("live-status", `live · updated ${new Date(s.t).toLocaleTimeString()}`);
}

/** The stream's URL: this queue's stats, or those of the rows a list page shows. */
function liveUrl(queue) {
  const params = new URLSearchParams();
  if (queue) params.set("queue", queue);
  const rows = [...document.querySelectorAll("tr[data-queue]")].map((tr) => tr.dataset.queue);
  if (rows.length > 0) params.set("queues", rows.join(","));
  const query = params.toString();
  return `/ui/live${query ? `?${query}` : ""}`;
}

/** Opens the stream; pages with nothing live (forms, confirmations) open none. */
function start() {
  if (document.querySelector("[data-live], [data-chart]") === null) return;
  const el = document.querySelector("[data-chart=rates]");
  const queue = el?.dataset.queue ?? "";
  const chart = el ? new RateChart(el) : undefined;
  const url = liveUrl(queue);
  let source;
  const open = () => {
    source = new EventSource(url);
    source.onmessage = (e) => {
      const s = JSON.parse(e.data);
      showSample(s);
      chart?.add(s.t, s.queue ?? s.totals);
    };
    source.onerror = () => setText("live-status", "reconnecting…");
  };
  // A page kept in the back/forward cache must not hold its stream: browsers allow six
  // connections per host, and six cached pages would leave none for the next request.
  addEventListener("pagehide", () => source?.close());
  addEventListener("pageshow", (e) => {
    if (e.persisted) open();
  });
  open();
}

start();
