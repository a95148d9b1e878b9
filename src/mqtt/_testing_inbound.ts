/**
 * An inbound half over a fake API, for the inbound tests. Folder-private, tests only.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { IPublishPacket, Packet } from "mqtt-packet";
import { MqttAccess } from "./access.ts";
import { type ApiRequest, BrokerApi } from "./broker_api.ts";
import { Inbound, type InboundHost } from "./inbound.ts";

/** One request the inbound half sent, answered when the test says so. */
export interface Sent {
  readonly req: ApiRequest;
  readonly messages: { headers: Record<string, string>; subject: string; body: unknown }[];
  /** The UTF-8 bytes of the body's JSON text. */
  readonly bytes: number;
  answer(status: number, body?: unknown): void;
}

/**
 * An inbound half over a fake API: every request is recorded and waits for the test's answer;
 * `maxBodyBytes` is the API's body limit the inbound half is told; `more`, other fields of its host
 * (`holder`, `live`). `answered` has every acknowledgement as `"<cmd> <id>"`, `acks` the PUBACKs'
 * ids.
 */
export function harness(
  access = MqttAccess.OPEN,
  version = 4,
  maxBodyBytes = 1 << 20,
  more: Partial<InboundHost> = {},
) {
  const requests: Sent[] = [];
  const acks: number[] = [];
  const answered: string[] = [];
  const reasons: number[] = [];
  const failures: string[] = [];
  /** The reason code of each `fail`. */
  const failReasons: number[] = [];
  const api = new BrokerApi((req) => {
    const { promise, resolve } = Promise.withResolvers<{ status: number; text: string }>();
    // A batch publish comes as its value (`SizedBody`), its text's bytes within its bound.
    if (req.value !== undefined) {
      const text = JSON.stringify(req.value.json);
      assert.ok(new TextEncoder().encode(text).length <= req.value.bytesAtMost);
    }
    const body = req.value !== undefined
      ? JSON.parse(JSON.stringify(req.value.json))
      : req.text === undefined
      ? undefined
      : JSON.parse(req.text);
    const text = req.value !== undefined ? JSON.stringify(req.value.json) : req.text ?? "";
    requests.push({
      req,
      messages: body?.messages ?? [],
      bytes: new TextEncoder().encode(text).length,
      answer: (status, b) => resolve({ status, text: b === undefined ? "" : JSON.stringify(b) }),
    });
    return promise;
  }, undefined);
  const inbound = new Inbound({
    api,
    access,
    clientId: "c",
    owner: { clientId: "c", principal: undefined },
    version,
    maxBodyBytes,
    send: (p: Packet) => assert.fail(`no packet but acknowledgements is sent: ${p.cmd}`),
    ack: (cmd, messageId, reasonCode) => {
      answered.push(`${cmd} ${messageId}`);
      if (cmd !== "puback") return;
      acks.push(messageId);
      reasons.push(reasonCode);
    },
    log: () => {},
    fail: (reason, detail) => {
      failReasons.push(reason);
      failures.push(detail);
    },
    ...more,
  });
  return { inbound, requests, acks, answered, failures, reasons, failReasons };
}

export function publish(id: number, topic = "t", payload = `m${id}`): IPublishPacket {
  return {
    cmd: "publish",
    topic,
    payload,
    qos: 1,
    dup: false,
    retain: false,
    messageId: id,
  };
}

/** The API's answer to a batch publish of `n` messages, all published. */
export function published(n: number, first = 1) {
  return { results: Array.from({ length: n }, (_, i) => ({ seq: first + i })) };
}

/** Lets the fake's answers and the inbound half's follow-ups run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}
