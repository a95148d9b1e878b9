/**
 * Minimal Prometheus text exposition (format 0.0.4): histograms with fixed buckets and a writer
 * for gauges and counters. No dependency: the whole format is a few lines.
 *
 * @module
 */

/** Default latency buckets in seconds: 0.5 ms .. 10 s (a long poll is capped elsewhere). */
export const LATENCY_BUCKETS_S = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
] as const;

/** A snapshot of one histogram: cumulative counts per upper bound, as Prometheus wants. */
export interface HistogramSnapshot {
  /** Upper bounds in the unit of the metric; `+Inf` is implied. */
  readonly bounds: readonly number[];
  /** Non-cumulative counts, one per bound plus one for `+Inf`. */
  readonly counts: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** A histogram with fixed buckets. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS_S) {
    this.#bounds = bounds;
    this.#counts = new Array(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.#bounds.length && value > this.#bounds[i]) i++;
    this.#counts[i]++;
    this.#sum += value;
    this.#count++;
  }

  snapshot(): HistogramSnapshot {
    return { bounds: this.#bounds, counts: [...this.#counts], sum: this.#sum, count: this.#count };
  }
}

/** Label values are escaped per the exposition format. */
function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`
  );
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Accumulates exposition text; each metric family gets its HELP and TYPE once. */
export class PromWriter {
  readonly #lines: string[] = [];
  readonly #declared = new Set<string>();

  #declare(name: string, type: "gauge" | "counter" | "histogram", help: string): void {
    if (this.#declared.has(name)) return;
    this.#declared.add(name);
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }

  gauge(name: string, help: string, value: number, labels: Record<string, string> = {}): void {
    this.#declare(name, "gauge", help);
    this.#lines.push(`${name}${labelText(labels)} ${formatNumber(value)}`);
  }

  counter(name: string, help: string, value: number, labels: Record<string, string> = {}): void {
    this.#declare(name, "counter", help);
    this.#lines.push(`${name}${labelText(labels)} ${formatNumber(value)}`);
  }

  histogram(
    name: string,
    help: string,
    h: HistogramSnapshot,
    labels: Record<string, string> = {},
  ): void {
    this.#declare(name, "histogram", help);
    let cumulative = 0;
    h.bounds.forEach((bound, i) => {
      cumulative += h.counts[i];
      const l = labelText({ ...labels, le: formatNumber(bound) });
      this.#lines.push(`${name}_bucket${l} ${cumulative}`);
    });
    cumulative += h.counts[h.bounds.length];
    this.#lines.push(`${name}_bucket${labelText({ ...labels, le: "+Inf" })} ${cumulative}`);
    this.#lines.push(`${name}_sum${labelText(labels)} ${formatNumber(h.sum)}`);
    this.#lines.push(`${name}_count${labelText(labels)} ${h.count}`);
  }

  text(): string {
    return this.#lines.join("\n") + "\n";
  }
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
