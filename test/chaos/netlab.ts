/**
 * A real network for the chaos suite: each node in its own Linux network namespace, joined to
 * the harness by a veth pair on one bridge, and partitions made with iptables DROP rules inside
 * the namespaces. Unlike the transport's fault seam, a DROP rule leaves TCP connections open and
 * silent: writes pile up in socket buffers, retransmissions back off, HTTP forwarding hangs. That
 * is how a switch failure looks to a node, and what a broker must survive.
 *
 * Layout of one lab (tag = 4 random hex digits, subnet 10.X.Y.0/24 picked free):
 * - bridge `qq<tag>br` in the harness's namespace with 10.X.Y.254: the harness and the clients
 *   reach every node through it; rules never drop it, so only node-to-node traffic is cut.
 * - per node i: namespace `qq-<tag>-<id>`, veth `qq<tag>i<NN>` (bridge side) and
 *   `qq<tag>o<NN>` (inside), address 10.X.Y.(10+i), loopback up.
 *
 * Every rule lives in the INPUT chain of the receiving node's namespace: a cut from a to b is
 * "b drops what comes from a". `heal()` flushes INPUT everywhere. `destroy()` removes the
 * namespaces (which takes their veth ends along) and the bridge. A lab whose owner died without
 * `destroy()` is swept by the next `NetLab.create` (its pid file in /tmp/quorumq-netlab).
 *
 * Needs root, `ip` (iproute2) and `iptables`; `NetLab.available()` says why not when it cannot.
 *
 * @module
 */

const REGISTRY_DIR = "/tmp/quorumq-netlab";

/** Runs a command; throws with its stderr when it fails. */
async function run(cmd: string, args: readonly string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args: [...args], stdin: "null" }).output();
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")}: ${(e as Error)?.message ?? e}`);
  }
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${out.code}: ${dec.decode(out.stderr).trim()}`,
    );
  }
  return dec.decode(out.stdout);
}

/** What a lab records about itself so that a later run can remove it if this one dies. */
interface LabRecord {
  readonly pid: number;
  readonly bridge: string;
  readonly namespaces: readonly string[];
}

/** One lab of namespaces; see the module doc. */
export class NetLab {
  readonly #hosts = new Map<string, string>();
  readonly #namespaces = new Map<string, string>();
  #destroyed = false;

  private constructor(
    readonly tag: string,
    readonly bridge: string,
    readonly gateway: string,
  ) {}

  /**
   * Whether this process can build a lab here: root, `ip` and `iptables` present, and a
   * namespace can be made. Answers the reason when not.
   */
  static async available(): Promise<{ ok: true } | { ok: false; reason: string }> {
    if (Deno.build.os !== "linux") return { ok: false, reason: "not Linux" };
    if (Deno.uid() !== 0) return { ok: false, reason: "not running as root" };
    for (const [cmd, arg] of [["ip", "-V"], ["iptables", "--version"]]) {
      try {
        await run(cmd, [arg]);
      } catch {
        return { ok: false, reason: `${cmd} is not installed (apt-get install iproute2 iptables)` };
      }
    }
    const probe = `qq-probe-${Deno.pid}`;
    try {
      await run("ip", ["netns", "add", probe]);
      await run("ip", ["netns", "exec", probe, "iptables", "-w", "-S", "INPUT"]);
    } catch (e) {
      return {
        ok: false,
        reason: `cannot make a namespace with iptables: ${(e as Error).message}`,
      };
    } finally {
      await run("ip", ["netns", "del", probe]).catch(() => {});
    }
    return { ok: true };
  }

  /** Builds a lab with one namespace per id (at most 200) and checks the bridge answers. */
  static async create(ids: readonly string[]): Promise<NetLab> {
    if (ids.length === 0 || ids.length > 200) {
      throw new Error(`Cannot build a lab for ${ids.length} nodes (1..200)`);
    }
    await NetLab.sweep();
    const tag = crypto.randomUUID().slice(0, 4);
    const subnet = await freeSubnet();
    const lab = new NetLab(tag, `qq${tag}br`, `${subnet}.254`);
    const record: LabRecord = {
      pid: Deno.pid,
      bridge: lab.bridge,
      namespaces: ids.map((id) => `qq-${tag}-${id}`),
    };
    await Deno.mkdir(REGISTRY_DIR, { recursive: true });
    await Deno.writeTextFile(`${REGISTRY_DIR}/${tag}.json`, JSON.stringify(record));
    try {
      await run("ip", ["link", "add", lab.bridge, "type", "bridge"]);
      await run("ip", ["addr", "add", `${lab.gateway}/24`, "dev", lab.bridge]);
      await run("ip", ["link", "set", lab.bridge, "up"]);
      for (const [i, id] of ids.entries()) await lab.#addHost(id, i, `${subnet}.${10 + i}`);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  async #addHost(id: string, index: number, address: string): Promise<void> {
    const ns = `qq-${this.tag}-${id}`;
    const n = String(index).padStart(2, "0");
    const outside = `qq${this.tag}i${n}`;
    const inside = `qq${this.tag}o${n}`;
    await run("ip", ["netns", "add", ns]);
    this.#namespaces.set(id, ns);
    await run("ip", ["link", "add", outside, "type", "veth", "peer", "name", inside]);
    await run("ip", ["link", "set", outside, "master", this.bridge, "up"]);
    await run("ip", ["link", "set", inside, "netns", ns]);
    await run("ip", ["-n", ns, "addr", "add", `${address}/24`, "dev", inside]);
    await run("ip", ["-n", ns, "link", "set", inside, "up"]);
    await run("ip", ["-n", ns, "link", "set", "lo", "up"]);
    this.#hosts.set(id, address);
  }

  /** The address node `id` listens on, reachable from the harness and from the other nodes. */
  host(id: string): string {
    const h = this.#hosts.get(id);
    if (h === undefined) throw new Error(`No host ${id} in lab ${this.tag}`);
    return h;
  }

  /** The command prefix that runs a program inside node `id`'s namespace. */
  wrap(id: string): string[] {
    const ns = this.#namespaces.get(id);
    if (ns === undefined) throw new Error(`No namespace for ${id} in lab ${this.tag}`);
    return ["ip", "netns", "exec", ns];
  }

  /** Runs iptables in `id`'s namespace (`-w`: wait for the xtables lock). */
  async #iptables(id: string, args: readonly string[]): Promise<void> {
    const [cmd, ...pre] = this.wrap(id);
    await run(cmd, [...pre, "iptables", "-w", ...args]);
  }

  /** `to` drops every packet from `from` (a one-way cut); add `cut(to, from)` for both ways. */
  async cut(from: string, to: string): Promise<void> {
    await this.#iptables(to, ["-A", "INPUT", "-s", this.host(from), "-j", "DROP"]);
  }

  /** `to` drops each packet from `from` with `probability` (a lossy link). */
  async lossy(from: string, to: string, probability: number): Promise<void> {
    if (!(probability > 0 && probability < 1)) {
      throw new Error(`A loss probability must be in (0, 1), got ${probability}`);
    }
    await this.#iptables(to, [
      "-A",
      "INPUT",
      "-s",
      this.host(from),
      "-m",
      "statistic",
      "--mode",
      "random",
      "--probability",
      String(probability),
      "-j",
      "DROP",
    ]);
  }

  /** The rules now in `id`'s INPUT chain (`iptables -S` lines), for tests and logs. */
  async rules(id: string): Promise<string[]> {
    const [cmd, ...pre] = this.wrap(id);
    const out = await run(cmd, [...pre, "iptables", "-w", "-S", "INPUT"]);
    return out.split("\n").filter((l) => l.startsWith("-A "));
  }

  /** Removes every rule in every namespace of the lab. */
  async heal(): Promise<void> {
    await Promise.all(
      [...this.#namespaces.keys()].map((id) => this.#iptables(id, ["-F", "INPUT"])),
    );
  }

  /** Removes the namespaces and the bridge. Idempotent; processes inside should be gone first. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await removeLab({
      pid: Deno.pid,
      bridge: this.bridge,
      namespaces: [...this.#namespaces.values()],
    });
    await Deno.remove(`${REGISTRY_DIR}/${this.tag}.json`).catch(() => {});
  }

  /** Removes the labs of processes that died without `destroy()`. */
  static async sweep(): Promise<void> {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(REGISTRY_DIR));
    } catch {
      return;
    }
    for (const e of entries) {
      const path = `${REGISTRY_DIR}/${e.name}`;
      try {
        const record = JSON.parse(await Deno.readTextFile(path)) as LabRecord;
        if (await alive(record.pid)) continue;
        await removeLab(record);
        await Deno.remove(path);
      } catch { /* another sweeper, or not ours */ }
    }
  }
}

async function alive(pid: number): Promise<boolean> {
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

async function removeLab(record: LabRecord): Promise<void> {
  for (const ns of record.namespaces) await run("ip", ["netns", "del", ns]).catch(() => {});
  await run("ip", ["link", "del", record.bridge]).catch(() => {});
}

/** A 10.X.Y.0/24 (X in 200..249) that no interface here has an address in. */
async function freeSubnet(): Promise<string> {
  const used = await run("ip", ["-4", "-o", "addr", "show"]);
  for (let attempt = 0; attempt < 100; attempt++) {
    const x = 200 + Math.floor(Math.random() * 50);
    const y = Math.floor(Math.random() * 256);
    const subnet = `10.${x}.${y}`;
    if (!used.includes(` ${subnet}.`)) return subnet;
  }
  throw new Error("Cannot find a free 10.x.y.0/24 subnet for the lab in 100 tries");
}
