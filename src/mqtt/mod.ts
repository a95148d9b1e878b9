/**
 * The MQTT gateway (MQTT 3.1.1 and 5) of a node: a front end over the broker's HTTP API, so the
 * replicated state machine stays the one place of its rules. Mapping and guarantees:
 * docs/mqtt.md.
 *
 * ```ts
 * const mqtt = startMqttGateway({ plain: { hostname, port: 1883 }, fetch: app.fetch, log, maxPacketBytes, maxBodyBytes, ... });
 * await mqtt.close();
 * ```
 *
 * @module
 */

export {
  MQTT_WS_PATH,
  type MqttGateway,
  type MqttGatewayOptions,
  startMqttGateway,
} from "./gateway.ts";
export { sessionSubscription } from "./subscriptions.ts";
export { type ApiFetch, type ApiRequest, BrokerApi, MQTT_TOPIC, SizedBody } from "./broker_api.ts";
export { readBatchAnswer } from "./batch_answer.ts";
export { jsonBytesAtMost } from "./json_bound.ts";
export { messageBytesAtMost, messageOf } from "./publish_message.ts";
export { mqttGatewayAuth } from "./gateway_auth.ts";
export { sessionKey, type SessionOwner } from "./session.ts";
export {
  filterToPatterns,
  patternToFilter,
  subjectToTopic,
  topicMatches,
  topicToSubject,
} from "./topics.ts";
