/**
 * Structured logging: one JSON line per event, on stderr by default.
 *
 * A line is `{ time, level, node, term, event, ...details }`. `event` is a stable snake_case name
 * (`http_listen`, `leader_changed`, `request_failed`) so that operators can grep and alert on it.
 * Per-message events are `debug`: nothing is written per message at the default level (`info`).
 *
 * @module
 */

/** Severity, lowest first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

/** Free-form fields of one event. Values must be JSON-serializable (Errors are expanded). */
export type LogDetails = Record<string, unknown>;

/** The logging port every module receives; never a global. */
export interface Logger {
  readonly level: LogLevel;
  /** True when an event of `level` would be written: guard expensive `details` with it. */
  enabled(level: LogLevel): boolean;
  debug(event: string, details?: LogDetails): void;
  info(event: string, details?: LogDetails): void;
  warn(event: string, details?: LogDetails): void;
  error(event: string, details?: LogDetails): void;
}

export interface LoggerOptions {
  /** Events below this level are dropped. Default `info`. */
  readonly level?: LogLevel;
  /** This node's id, written on every line. */
  readonly node?: string;
  /** The current Raft term, read at each event (the driver sets it once it knows). */
  readonly term?: () => number | undefined;
  /** Where lines go. Default: stderr, synchronously, so a crash does not lose the last line. */
  readonly write?: (line: string) => void;
  /** Clock for `time`. Default `Date.now`. */
  readonly nowMs?: () => number;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** True when `value` is one of `LOG_LEVELS`. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** Creates a JSON-lines logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  const write = options.write ?? writeStderr;
  const nowMs = options.nowMs ?? Date.now;
  const emit = (at: LogLevel, event: string, details?: LogDetails): void => {
    if (RANK[at] < RANK[level]) return;
    const line: Record<string, unknown> = {
      time: new Date(nowMs()).toISOString(),
      level: at,
      node: options.node,
      term: options.term?.(),
      event,
    };
    if (details !== undefined) {
      for (const [key, value] of Object.entries(details)) {
        // The fixed fields come first and cannot be overwritten by details.
        if (!(key in line)) line[key] = value;
      }
    }
    write(safeStringify(line));
  };
  return {
    level,
    enabled: (at) => RANK[at] >= RANK[level],
    debug: (event, details) => emit("debug", event, details),
    info: (event, details) => emit("info", event, details),
    warn: (event, details) => emit("warn", event, details),
    error: (event, details) => emit("error", event, details),
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ level: "error", write: () => {} });

/** A logger that collects lines in memory, parsed, for tests. */
export function memoryLogger(
  level: LogLevel = "debug",
): Logger & { readonly lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level, write: (line) => lines.push(JSON.parse(line)) });
  return Object.assign(logger, { lines });
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/** JSON.stringify that never throws: Errors become `{ name, message, stack }`, bigints strings. */
function safeStringify(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(value, (_key, v: unknown) => {
      if (v instanceof Error) return { name: v.name, message: v.message, stack: v.stack };
      if (typeof v === "bigint") return v.toString();
      if (typeof v === "object" && v !== null) {
        if (seen.has(v)) return "[circular]";
        seen.add(v);
      }
      return v;
    });
  } catch (error) {
    return JSON.stringify({ level: "error", event: "log_serialize_failed", detail: String(error) });
  }
}
