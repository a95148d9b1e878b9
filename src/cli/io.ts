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
    out: (line) => Deno.stdout.writeSync(encoder.encode(line + "\n")),
    err: (text) => Deno.stderr.writeSync(encoder.encode(text)),
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
