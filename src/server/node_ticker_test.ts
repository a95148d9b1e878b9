import assert from "node:assert/strict";
import { NodeTicker } from "./node_ticker.ts";

Deno.test("NodeTicker runs each rider every whole number of its beats", () => {
  const ticker = new NodeTicker(50);
  const ran: string[] = [];
  const stopTick = ticker.every(50, () => ran.push("tick"));
  const stopCheck = ticker.every(250, () => ran.push("check"));
  try {
    for (let i = 0; i < 10; i++) ticker.beat();
    assert.equal(ran.filter((r) => r === "tick").length, 10);
    assert.equal(ran.filter((r) => r === "check").length, 2);
    assert.equal(ran.indexOf("check"), 5); // after the fifth tick, in the fifth beat
    stopCheck();
    ticker.beat();
    assert.equal(ran.filter((r) => r === "check").length, 2);
  } finally {
    stopTick();
    ticker.stop();
  }
});

Deno.test("NodeTicker gives a period that is not a multiple of its beat a timer of its own", () => {
  const ticker = new NodeTicker(50);
  let ran = 0;
  const stop = ticker.every(30, () => ran++);
  try {
    ticker.beat();
    assert.equal(ran, 0);
  } finally {
    stop();
    ticker.stop();
  }
});

Deno.test("NodeTicker lets a rider stop itself or another during a beat", () => {
  const ticker = new NodeTicker(10);
  let a = 0, b = 0;
  const stopB = ticker.every(10, () => b++);
  const stopA: () => void = ticker.every(10, () => {
    a++;
    stopA();
  });
  try {
    ticker.beat();
    ticker.beat();
    assert.equal(a, 1);
    assert.equal(b, 2);
  } finally {
    stopB();
    ticker.stop();
  }
});
