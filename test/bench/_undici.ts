/**
 * The peers kit's HTTP client (Node.js with undici's `request()`, `_undici_client.mjs`) as a
 * child process of a bench: `UndiciRun.start` warms it up, `go` runs the measured part. Its CPU is
 * the child's (`pid`), read by the bench from `/proc`.
 *
 * undici comes from npm: `ensureUndici(dir)` installs the kit's version into `dir` once
 * (`npm install --prefix dir`), so the bench needs Node.js and npm on the PATH.
 *
 * @module
 */

/** The undici version the peers kit pins. */
export const UNDICI_VERSION = "7.30.3";

/** The path of undici's entry module in `dir`, installed there first if it is not. */
export async function ensureUndici(dir: string): Promise<string> {
  const entry = `${dir}/node_modules/undici/index.js`;
  if (await Deno.stat(entry).then(() => true, () => false)) return entry;
  await Deno.mkdir(dir, { recursive: true });
  const args = ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", dir];
  const out = await new Deno.Command("npm", { args: [...args, `undici@${UNDICI_VERSION}`] })
    .output();
  if (!out.success) throw new Error(`npm install undici: ${new TextDecoder().decode(out.stderr)}`);
  return entry;
}

/** What the measured part took: its wall time, its CPU, each request's latency in ms. */
export interface UndiciResult {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly latencies: number[];
}

/** One client process: warmed up when `start` resolves, measured by `go`. */
export class UndiciRun {
  private constructor(
    private readonly child: Deno.ChildProcess,
    private readonly lines: LineReader,
  ) {}

  get pid(): number {
    return this.child.pid;
  }

  /** Starts the client and waits until it has published `warm` messages. */
  static async start(options: {
    undici: string;
    url: string;
    queue: string;
    tag: string;
    warm: number;
    count: number;
    inflight: number;
  }): Promise<UndiciRun> {
    const script = new URL("./_undici_client.mjs", import.meta.url).pathname;
    const child = new Deno.Command("node", {
      args: [script, JSON.stringify(options)],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = new LineReader(child.stdout.pipeThrough(new TextDecoderStream()).getReader());
    const run = new UndiciRun(child, lines);
    const first = await lines.next();
    if (first !== "warm") {
      await run.close();
      throw new Error(`undici client: ${first ?? "ended"} before its warm-up was done`);
    }
    return run;
  }

  /** Runs the measured part and returns what it took; the process then ends. */
  async go(): Promise<UndiciResult> {
    const writer = this.child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    await writer.close();
    const line = await this.lines.next();
    if (line === undefined) throw new Error("undici client ended without a result");
    const status = await this.child.status;
    if (!status.success) throw new Error(`undici client exited ${status.code}`);
    return JSON.parse(line) as UndiciResult;
  }

  /** Ends the process if it still runs. */
  async close(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already ended
    }
    await this.child.status;
  }
}

/** The lines of a text stream, one at a time (undefined at its end). */
class LineReader {
  #held = "";
  constructor(private readonly reader: ReadableStreamDefaultReader<string>) {}

  async next(): Promise<string | undefined> {
    // Each read adds a chunk; the stream ends, so the loop does.
    while (!this.#held.includes("\n")) {
      const { value, done } = await this.reader.read();
      if (done) return undefined;
      this.#held += value;
    }
    const at = this.#held.indexOf("\n");
    const line = this.#held.slice(0, at);
    this.#held = this.#held.slice(at + 1);
    return line;
  }
}
