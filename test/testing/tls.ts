/**
 * Certificates for tests, made at run time with `openssl` (Debian's; `.ci/run` installs it when
 * missing) in a temp dir: a CA, certificates it signs for nodes (server and client use, with
 * the loopback names), and self-signed ones. Shared by every TLS test and the deploy tests.
 *
 * ```ts
 * const pki = await TestPki.create();          // undefined without openssl: skip, saying why
 * const ca = await pki.ca("cluster");
 * const n1 = await pki.cert(ca, "n1");         // { certFile, keyFile, certPem, keyPem }
 * const rogue = await pki.selfSigned("rogue");
 * await pki.remove();
 * ```
 *
 * @module
 */

/** A CA: its certificate (the file a client trusts) and its key (to sign with). */
export interface TestCa {
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
}

/** A certificate and its key, as files and as text. */
export interface TestCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** The names every test certificate is good for: nodes listen on loopback. */
export const LOOPBACK_NAMES = ["IP:127.0.0.1", "DNS:localhost"];

/** Why TLS tests cannot run here, or undefined when `openssl` is on the PATH. */
export async function opensslMissing(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("openssl", { args: ["version"], stdout: "null" }).output();
    return out.success ? undefined : "openssl version failed";
  } catch {
    return "openssl is not installed (apt-get install openssl)";
  }
}

export class TestPki {
  #serial = 0;

  private constructor(readonly dir: string) {}

  /** A temp dir for the files; undefined (and a line on stderr) when openssl is missing. */
  static async create(): Promise<TestPki | undefined> {
    const missing = await opensslMissing();
    if (missing !== undefined) {
      console.error(`skipping TLS tests: ${missing}`);
      return undefined;
    }
    return new TestPki(await Deno.makeTempDir({ prefix: "quorumq-pki-" }));
  }

  /** A new self-signed CA (EC P-256), valid from a day ago for `days`. */
  async ca(name: string, days = 30): Promise<TestCa> {
    const certFile = `${this.dir}/${name}-ca.pem`;
    const keyFile = `${this.dir}/${name}-ca.key`;
    await openssl([
      "req",
      "-x509",
      ...newKey(keyFile),
      "-out",
      certFile,
      "-days",
      String(days),
      "-subj",
      `/CN=${name} test CA`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    return { name, certFile, keyFile, certPem: await Deno.readTextFile(certFile) };
  }

  /**
   * A certificate for `name` signed by `ca`, good as a server and as a client (a node is both),
   * for `names` (subjectAltName entries). Each call makes a new key: `file` names the files so a
   * test can make a second certificate for the same node (a reload).
   */
  async cert(
    ca: TestCa,
    name: string,
    options: { names?: readonly string[]; days?: number; file?: string } = {},
  ): Promise<TestCert> {
    const file = options.file ?? name;
    const keyFile = `${this.dir}/${file}.key`;
    const csrFile = `${this.dir}/${file}.csr`;
    const certFile = `${this.dir}/${file}.pem`;
    const extFile = `${this.dir}/${file}.ext`;
    await openssl(["req", ...newKey(keyFile), "-out", csrFile, "-subj", `/CN=${name}`]);
    await Deno.writeTextFile(
      extFile,
      `subjectAltName=${(options.names ?? LOOPBACK_NAMES).join(",")}\n` +
        "basicConstraints=critical,CA:FALSE\n" +
        "keyUsage=critical,digitalSignature\n" +
        "extendedKeyUsage=serverAuth,clientAuth\n",
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      csrFile,
      "-CA",
      ca.certFile,
      "-CAkey",
      ca.keyFile,
      "-set_serial",
      String(Date.now() * 1000 + ++this.#serial),
      "-out",
      certFile,
      "-days",
      String(options.days ?? 30),
      "-extfile",
      extFile,
    ]);
    return read(certFile, keyFile);
  }

  /** An intermediate CA that `ca` signs: leaves it signs chain to `ca` through it. */
  async intermediate(ca: TestCa, name: string): Promise<TestCa> {
    const keyFile = `${this.dir}/${name}-ca.key`;
    const csrFile = `${this.dir}/${name}-ca.csr`;
    const certFile = `${this.dir}/${name}-ca.pem`;
    const extFile = `${this.dir}/${name}-ca.ext`;
    await openssl(["req", ...newKey(keyFile), "-out", csrFile, "-subj", `/CN=${name} test CA`]);
    await Deno.writeTextFile(
      extFile,
      "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    await openssl([
      ...["x509", "-req", "-in", csrFile, "-CA", ca.certFile, "-CAkey", ca.keyFile],
      ...["-set_serial", String(Date.now() * 1000 + ++this.#serial), "-out", certFile],
      ...["-days", "30", "-extfile", extFile],
    ]);
    return { name, certFile, keyFile, certPem: await Deno.readTextFile(certFile) };
  }

  /** A self-signed certificate for `name`: no CA vouches for it. */
  async selfSigned(name: string, names: readonly string[] = LOOPBACK_NAMES): Promise<TestCert> {
    const keyFile = `${this.dir}/${name}-self.key`;
    const certFile = `${this.dir}/${name}-self.pem`;
    await openssl([
      "req",
      "-x509",
      ...newKey(keyFile),
      "-out",
      certFile,
      "-days",
      "30",
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=${names.join(",")}`,
    ]);
    return read(certFile, keyFile);
  }

  async remove(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** A PEM text as compared: trimmed, LF line ends. */
export function pem(text: string): string {
  return text.trim().replace(/\r\n/g, "\n");
}

/** The certificate a TLS listener presents to a new connection (openssl s_client). */
export async function servedCertificate(port: number, caFile: string): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-CAfile", caFile, "-verify_return_error"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const match = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/);
  if (match === null) throw new Error(`openssl s_client got no certificate:\n${text}`);
  return pem(match[0]);
}

function newKey(keyFile: string): string[] {
  return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile];
}

async function read(certFile: string, keyFile: string): Promise<TestCert> {
  return {
    certFile,
    keyFile,
    certPem: await Deno.readTextFile(certFile),
    keyPem: await Deno.readTextFile(keyFile),
  };
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}
