/**
 * What the CLI touches outside itself, behind one interface so commands are tested in-process:
 * output streams, stdin lines, the environment, Ctrl-C, and `fetch`.
 *
 * @module
 */

/** The CLI's window on the world. */
export interface Io {
  /** Writes one line to stdout. */
  out(line: string): void;
  /** Writes raw text to stderr (progress lines use `\r`). */
  err(text: string): void;
  /** Whether stderr is a terminal: `\r` progress lines go there only then (not to a pipe or log). */
  errIsTerminal: boolean;
  /** Lines of stdin, without their line ends. */
  stdinLines(): AsyncIterable<string>;
  env(name: string): string | undefined;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal;
  /** Replaces the global fetch (tests). */
  fetch?: typeof fetch;
  /** Runs `sh -c command` with `input` on stdin; resolves with the exit code. */
  exec(command: string, input: Uint8Array, env: Record<string, string>): Promise<number>;
}

/** The real process: Deno's stdio, environment and signals. */
export function processIo(): Io {
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("Interrupted"));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(signal, stop);
    } catch {
      // Not every platform has every signal (Windows has no SIGTERM listener).
    }
  }
  const encoder = new TextEncoder();
  return {
    out: (line) => writeAllSync((b) => Deno.stdout.writeSync(b), encoder.encode(line + "\n")),
    err: (text) => writeAllSync((b) => Deno.stderr.writeSync(b), encoder.encode(text)),
    errIsTerminal: Deno.stderr.isTerminal(),
    stdinLines: () => readLines(Deno.stdin.readable),
    env: (name) => Deno.env.get(name),
    signal: controller.signal,
    exec: async (command, input, env) => {
      const child = new Deno.Command("sh", {
        args: ["-c", command],
        stdin: "piped",
        stdout: "inherit",
        stderr: "inherit",
        env,
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(input).catch(() => {}); // the command may not read its stdin
      await writer.close().catch(() => {});
      return (await child.status).code;
    },
  };
}

/** How long `writeAllSync` waits for a stream that takes nothing before it gives up. */
const WRITE_STALL_MS = 60_000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `bytes` with `write` (a `writeSync`). A stream whose file is in non-blocking mode
 * (a pipe or terminal that another process set so) may take part of a write and say so: the rest
 * is written after it (before, it was dropped, and `consume` acked the message whose line was cut
 * short). It waits a millisecond at a time while the stream takes nothing, and throws after
 * `WRITE_STALL_MS` of it. An error is thrown on at once, `WouldBlock` too: Deno's `writeSync` may
 * have written part before it (it does not say how much), so writing again could repeat bytes;
 * the caller fails instead (`consume` nacks the message, which comes again).
 */
export function writeAllSync(
  write: (bytes: Uint8Array) => number,
  bytes: Uint8Array,
  now: () => number = () => performance.now(),
): void {
  let off = 0;
  let stalledSince: number | undefined;
  while (off < bytes.length) {
    const n = write(bytes.subarray(off));
    if (n > 0) {
      off += n;
      stalledSince = undefined;
      continue;
    }
    stalledSince ??= now();
    if (now() - stalledSince > WRITE_STALL_MS) {
      throw new Error(`Cannot write: the stream took nothing for ${WRITE_STALL_MS} ms`);
    }
    Atomics.wait(pause, 0, 0, 1);
  }
}

/** Splits a byte stream into lines (`\n` or `\r\n`), the last one without a line end included. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncIterable<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) yield line.replace(/\r$/, "");
  }
  pending += decoder.decode();
  if (pending !== "") yield pending.replace(/\r$/, "");
}
