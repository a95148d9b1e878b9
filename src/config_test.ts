import assert from "node:assert/strict";
import { envName, helpText, OPTIONS, parseConfig, type ParseConfigResult } from "./config.ts";

const noFile = (path: string): string => {
  throw new Error(`no such file ${path}`);
};

function ok(result: ParseConfigResult) {
  assert.equal(result.kind, "config", JSON.stringify(result));
  if (result.kind !== "config") throw new Error("unreachable");
  return result.config;
}

function error(result: ParseConfigResult): string {
  assert.equal(result.kind, "error", JSON.stringify(result));
  if (result.kind !== "error") throw new Error("unreachable");
  return result.message;
}

Deno.test("parseConfig() with nothing gives the embedded one-node default", () => {
  const config = ok(parseConfig([], {}, noFile));
  assert.deepEqual(config, {
    id: "n1",
    listen: { hostname: "127.0.0.1", port: 8080 },
    advertise: "http://127.0.0.1:8080",
    peers: [{ id: "n1", url: "http://127.0.0.1:8080" }],
    dataDir: "./data",
    storage: "fsync",
    secret: undefined,
    authFile: undefined,
    allowAnonymous: false,
    metricsPublic: false,
    logLevel: "info",
    maxBodyBytes: 1048576,
    testFaults: false,
    clusterId: "quorumq",
    join: false,
    corsOrigins: [],
    mqttListen: undefined,
    mqttMaxPacketBytes: 1048576,
    tls: undefined,
    mqttTlsListen: undefined,
    peerTls: undefined,
    secretFile: undefined,
  });
});

Deno.test("parseConfig() turns MQTT on with --mqtt-listen or QUORUMQ_MQTT_LISTEN, and checks it", () => {
  const flag = ok(parseConfig(["--mqtt-listen", "0.0.0.0:1883"], {}, noFile));
  assert.deepEqual(flag.mqttListen, { hostname: "0.0.0.0", port: 1883 });
  const env = ok(parseConfig([], { QUORUMQ_MQTT_LISTEN: "127.0.0.1:1884" }, noFile));
  assert.deepEqual(env.mqttListen, { hostname: "127.0.0.1", port: 1884 });
  const bad = parseConfig(["--mqtt-listen", "1883"], {}, noFile);
  assert.equal(bad.kind, "error");
  assert.match((bad as { message: string }).message, /--mqtt-listen \(QUORUMQ_MQTT_LISTEN\)/);
  const small = parseConfig(["--mqtt-max-packet-bytes", "10"], {}, noFile);
  assert.equal(small.kind, "error");
});

Deno.test("parseConfig() reads --cors-origin as a list of origins and refuses a URL with a path", () => {
  const config = ok(parseConfig(
    ["--cors-origin", "https://app.example, http://localhost:3000/"],
    {},
    noFile,
  ));
  assert.deepEqual(config.corsOrigins, ["https://app.example", "http://localhost:3000"]);
  assert.deepEqual(ok(parseConfig([], { QUORUMQ_CORS_ORIGIN: "*" }, noFile)).corsOrigins, ["*"]);
  assert.match(
    error(parseConfig(["--cors-origin", "https://a.example/app"], {}, noFile)),
    /origin/,
  );
  assert.match(error(parseConfig(["--cors-origin", "nope"], {}, noFile)), /--cors-origin/);
});

Deno.test("parseConfig() reads --cluster-id and --join, and refuses a bad cluster id", () => {
  const config = ok(parseConfig(["--cluster-id", "prod-2", "--join"], {}, noFile));
  assert.equal(config.clusterId, "prod-2");
  assert.equal(config.join, true);
  const bad = parseConfig(["--cluster-id", "no spaces"], {}, noFile);
  assert.equal(bad.kind, "error");
  assert.match(bad.kind === "error" ? bad.message : "", /--cluster-id/);
});

Deno.test("parseConfig() reads flags in both --x v and --x=v forms", () => {
  const config = ok(parseConfig(
    [
      "--id",
      "n2",
      "--listen=0.0.0.0:9000",
      "--advertise",
      "http://host2:9000/",
      "--peers",
      "n1=http://host1:9000,n2=http://host2:9000",
      "--secret",
      "s3",
      "--storage",
      "memory",
      "--max-body-bytes",
      "4096",
      "--test-faults",
      "--log-level",
      "debug",
    ],
    {},
    noFile,
  ));
  assert.equal(config.id, "n2");
  assert.deepEqual(config.listen, { hostname: "0.0.0.0", port: 9000 });
  assert.equal(config.advertise, "http://host2:9000");
  assert.deepEqual(config.peers, [
    { id: "n1", url: "http://host1:9000" },
    { id: "n2", url: "http://host2:9000" },
  ]);
  assert.equal(config.storage, "memory");
  assert.equal(config.maxBodyBytes, 4096);
  assert.equal(config.testFaults, true);
  assert.equal(config.logLevel, "debug");
});

Deno.test("parseConfig() precedence is flags > env > file > defaults", () => {
  const file = JSON.stringify({ id: "file", logLevel: "warn", maxBodyBytes: 2048, data: "/f" });
  const read = (path: string) => {
    assert.equal(path, "/etc/q.json");
    return file;
  };
  const config = ok(parseConfig(
    ["--id", "flag"],
    { QUORUMQ_ID: "env", QUORUMQ_LOG_LEVEL: "error", QUORUMQ_CONFIG: "/etc/q.json" },
    read,
  ));
  assert.equal(config.id, "flag");
  assert.equal(config.logLevel, "error");
  assert.equal(config.maxBodyBytes, 2048);
  assert.equal(config.dataDir, "/f");
  assert.equal(config.storage, "fsync");
});

Deno.test("parseConfig() accepts peers as an object in the config file", () => {
  const file = JSON.stringify({
    id: "a",
    secret: "x",
    peers: { a: "http://127.0.0.1:1", b: "http://127.0.0.1:2" },
  });
  const config = ok(parseConfig(["--config", "c.json"], {}, () => file));
  assert.deepEqual(config.peers.map((p) => p.id), ["a", "b"]);
});

Deno.test("parseConfig() names the option and the reason for a bad value", () => {
  assert.match(
    error(parseConfig([], { QUORUMQ_MAX_BODY_BYTES: "lots" }, noFile)),
    /--max-body-bytes \(QUORUMQ_MAX_BODY_BYTES\)/,
  );
  assert.match(error(parseConfig(["--storage", "disk"], {}, noFile)), /--storage.*fsync/);
  assert.match(error(parseConfig(["--listen", "localhost"], {}, noFile)), /--listen.*host:port/);
  assert.match(error(parseConfig(["--listen", "h:70000"], {}, noFile)), /port must be/);
  assert.match(error(parseConfig(["--advertise", "ftp://x"], {}, noFile)), /--advertise/);
  assert.match(error(parseConfig(["--log-level", "loud"], {}, noFile)), /--log-level/);
  assert.match(error(parseConfig(["--id", "bad id"], {}, noFile)), /--id/);
  assert.match(error(parseConfig(["--bogus", "1"], {}, noFile)), /Unknown option --bogus/);
  assert.match(error(parseConfig(["--id"], {}, noFile)), /--id needs a value/);
  assert.match(error(parseConfig(["stray"], {}, noFile)), /Unexpected argument/);
});

Deno.test("parseConfig() checks peers: this node included, no duplicates, secret required", () => {
  assert.match(
    error(parseConfig(["--peers", "n2=http://a:1", "--secret", "s"], {}, noFile)),
    /must include this node \(n1\)/,
  );
  assert.match(
    error(parseConfig(["--peers", "n1=http://a:1,n1=http://b:1", "--secret", "s"], {}, noFile)),
    /appears twice/,
  );
  assert.match(
    error(parseConfig(["--peers", "n1=http://a:1,n2=nope"], {}, noFile)),
    /bad URL for n2/,
  );
  assert.match(
    error(parseConfig(["--peers", "n1=http://a:1,n2=http://b:1"], {}, noFile)),
    /--secret.*required when there are peers/,
  );
});

Deno.test("parseConfig() reports unreadable, malformed and unknown-key config files", () => {
  assert.match(error(parseConfig(["--config", "x.json"], {}, noFile)), /Cannot read.*x\.json/);
  assert.match(error(parseConfig(["--config", "x.json"], {}, () => "{")), /Cannot parse/);
  assert.match(error(parseConfig(["--config", "x.json"], {}, () => "[1]")), /JSON object/);
  assert.match(
    error(parseConfig(["--config", "x.json"], {}, () => '{"colour":"red"}')),
    /colour/,
  );
});

Deno.test("parseConfig() --help returns text that documents every option and env name", () => {
  const result = parseConfig(["--id", "x", "--help"], {}, noFile);
  assert.equal(result.kind, "help");
  if (result.kind !== "help") return;
  assert.equal(result.text, helpText());
  for (const option of OPTIONS) {
    assert.ok(result.text.includes(`--${option.flag}`), option.flag);
    assert.ok(result.text.includes(envName(option.flag)), option.flag);
  }
});

Deno.test("parseConfig() takes --tls-cert and --tls-key together and advertises https", () => {
  const config = ok(parseConfig(["--tls-cert", "c.pem", "--tls-key", "k.pem"], {}, noFile));
  assert.deepEqual(config.tls, { certFile: "c.pem", keyFile: "k.pem" });
  assert.equal(config.advertise, "https://127.0.0.1:8080");
  assert.equal(config.peerTls, undefined);
  assert.match(error(parseConfig(["--tls-cert", "c.pem"], {}, noFile)), /--tls-key.*go together/);
  assert.match(error(parseConfig(["--tls-key", "k.pem"], {}, noFile)), /--tls-cert.*go together/);
  const env = ok(parseConfig([], { QUORUMQ_TLS_CERT: "c", QUORUMQ_TLS_KEY: "k" }, noFile));
  assert.deepEqual(env.tls, { certFile: "c", keyFile: "k" });
});

Deno.test("parseConfig() takes the three --peer-* together, needs https peers, serves the peer cert", () => {
  const peerFlags = ["--peer-ca", "ca.pem", "--peer-cert", "n1.pem", "--peer-key", "n1.key"];
  const peers = "n1=https://a:1,n2=https://b:1";
  const config = ok(parseConfig(
    [...peerFlags, "--peers", peers, "--secret", "s", "--advertise", "https://a:1"],
    {},
    noFile,
  ));
  assert.deepEqual(config.peerTls, { caFile: "ca.pem", certFile: "n1.pem", keyFile: "n1.key" });
  // One listener serves clients and peers: without --tls-cert it serves the peer certificate.
  assert.deepEqual(config.tls, { certFile: "n1.pem", keyFile: "n1.key" });
  const both = ok(parseConfig(
    [...peerFlags, "--tls-cert", "c.pem", "--tls-key", "k.pem", "--peers", peers, "--secret", "s"],
    {},
    noFile,
  ));
  assert.deepEqual(both.tls, { certFile: "c.pem", keyFile: "k.pem" });
  assert.equal(both.advertise, "https://127.0.0.1:8080");
  assert.match(
    error(parseConfig(["--peer-ca", "ca.pem", "--peer-key", "k"], {}, noFile)),
    /--peer-cert \(QUORUMQ_PEER_CERT\).*go together/,
  );
  assert.match(
    error(parseConfig(
      [...peerFlags, "--peers", "n1=https://a:1,n2=http://b:1", "--secret", "s"],
      {},
      noFile,
    )),
    /--peers.*must be https:\/\/ \(got http:\/\/b:1\)/,
  );
  assert.match(
    error(parseConfig([...peerFlags, "--advertise", "http://a:1"], {}, noFile)),
    /must be https/,
  );
});

Deno.test("parseConfig() needs a certificate for --mqtt-tls-listen", () => {
  assert.match(
    error(parseConfig(["--mqtt-tls-listen", "127.0.0.1:8883"], {}, noFile)),
    /--mqtt-tls-listen.*needs --tls-cert/,
  );
  const config = ok(parseConfig(
    ["--mqtt-tls-listen", "127.0.0.1:8883", "--tls-cert", "c", "--tls-key", "k"],
    {},
    noFile,
  ));
  assert.deepEqual(config.mqttTlsListen, { hostname: "127.0.0.1", port: 8883 });
  assert.match(
    error(
      parseConfig(["--mqtt-tls-listen", "8883", "--tls-cert", "c", "--tls-key", "k"], {}, noFile),
    ),
    /--mqtt-tls-listen.*host:port/,
  );
});

Deno.test("parseConfig() reads --secret-file, drops one line end, refuses it with --secret", () => {
  const files: Record<string, string> = {
    "/s": "s3cret\n",
    "/crlf": "s3cret\r\n",
    "/two": "a\n\n",
  };
  const read = (path: string) => {
    if (files[path] === undefined) throw new Error(`no such file ${path}`);
    return files[path];
  };
  const peers = ["--peers", "n1=http://a:1,n2=http://b:1"];
  const config = ok(parseConfig([...peers, "--secret-file", "/s"], {}, read));
  assert.equal(config.secret, "s3cret");
  assert.equal(config.secretFile, "/s");
  assert.equal(ok(parseConfig(["--secret-file", "/crlf"], {}, read)).secret, "s3cret");
  // Only one line end goes: a secret is kept as written otherwise.
  assert.equal(ok(parseConfig(["--secret-file", "/two"], {}, read)).secret, "a\n");
  assert.equal(
    ok(parseConfig(peers, { QUORUMQ_SECRET_FILE: "/s" }, read)).secret,
    "s3cret",
  );
  assert.match(
    error(parseConfig(["--secret", "x", "--secret-file", "/s"], {}, read)),
    /--secret-file.*--secret or --secret-file/,
  );
  assert.match(error(parseConfig(["--secret-file", "/nope"], {}, read)), /cannot read it/);
  files["/empty"] = "\n";
  assert.match(error(parseConfig(["--secret-file", "/empty"], {}, read)), /empty/);
});
