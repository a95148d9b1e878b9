/**
 * `FileHardStateStore` and `MemoryHardStateStore`: the two HardStateStore implementations.
 *
 * @module
 */

import type { HardState } from "../raft/mod.ts";
import type { HardStateStore } from "./hard_state_store.ts";
import { decodeHardState, encodeHardState } from "./_codec.ts";
import { ioError, readFileIfExists, writeFileAtomic } from "./_fs.ts";

/** The file name of the hard state inside the storage directory. */
export const HARD_STATE_FILE = "hard_state";

/**
 * The hard state in one small file, replaced atomically (temp file, fdatasync, rename, fsync
 * the directory) and checksummed. A leftover `hard_state.tmp` from a crash is ignored: the
 * rename never happened, so the old file is the truth.
 */
export class FileHardStateStore implements HardStateStore {
  readonly #dir: string;
  #fatal: Error | undefined;
  /** Saves are chained so two overlapping saves never share the temp file. */
  #tail: Promise<void> = Promise.resolve();

  constructor(dir: string) {
    this.#dir = dir;
  }

  async load(): Promise<HardState | undefined> {
    const path = `${this.#dir}/${HARD_STATE_FILE}`;
    const buf = await readFileIfExists(path);
    if (buf === undefined) return undefined;
    return decodeHardState(buf, `Cannot load the Raft hard state from ${path}`);
  }

  save(hs: HardState): Promise<void> {
    const bytes = encodeHardState(hs);
    const run = async () => {
      if (this.#fatal) throw this.#fatal;
      try {
        await writeFileAtomic(this.#dir, HARD_STATE_FILE, bytes);
      } catch (err) {
        this.#fatal = ioError(`Cannot save the Raft hard state (term ${hs.term})`, err);
        throw this.#fatal;
      }
    };
    const p = this.#tail.then(run);
    this.#tail = p.catch(() => {});
    return p;
  }
}

/** The hard state in memory: nothing survives the process. */
export class MemoryHardStateStore implements HardStateStore {
  #hs: HardState | undefined;

  load(): Promise<HardState | undefined> {
    return Promise.resolve(this.#hs);
  }

  save(hs: HardState): Promise<void> {
    this.#hs = { term: hs.term, vote: hs.vote, commit: hs.commit };
    return Promise.resolve();
  }
}
