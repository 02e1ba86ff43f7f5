// The browser client's protocol machine, driven without a browser: node --test tests/js/
const test = require("node:test");
const assert = require("node:assert/strict");
const { step, initialState, backoff, statusOf, MAX_SOCKET_FAILURES } = require("../../delivery/static/delivery/machine.js");

function run(state, inputs) {
  const actions = [];
  for (const input of inputs) {
    const out = step(state, input);
    state = out.state;
    actions.push(...out.actions);
  }
  return { state, actions };
}

const ev = (seq) => ({ type: "frame", frame: { type: "event", seq, event: "x", payload: {} } });
const hello = (resumedFrom = 0) => ({ type: "frame", frame: { type: "hello", last_seq: 9, resumed_from: resumedFrom } });
const rendered = (actions) => actions.filter((a) => a.type === "render").map((a) => a.event.seq);
const sent = (actions) => actions.filter((a) => a.type === "send").map((a) => a.frame);

test("renders each seq once, in order, and drops a redelivered one", () => {
  const { state, actions } = run(initialState({ threadId: "t" }), [hello(), ev(1), ev(2), ev(2), ev(1), ev(3)]);
  assert.deepEqual(rendered(actions), [1, 2, 3]);
  assert.equal(state.duplicates, 2);
  assert.deepEqual(actions.filter((a) => a.type === "store").map((a) => a.seq), [1, 2, 3]);
});

test("a seq jump sends one resume and renders nothing until the gap is filled", () => {
  const { state, actions } = run(initialState({ threadId: "t" }), [hello(), ev(1), ev(4), ev(5), ev(2), ev(3), ev(4), ev(5)]);
  assert.deepEqual(sent(actions), [{ type: "resume", after: 1 }]);
  assert.deepEqual(rendered(actions), [1, 2, 3, 4, 5]);
  assert.equal(state.resumeAfter, null);
});

test("acks are cumulative, batched on the tick, and never pass what the socket sent", () => {
  let { state, actions } = run(initialState({ threadId: "t", renderedSeq: 3 }), [hello(3), ev(4), ev(5), { type: "tick" }, { type: "tick" }]);
  assert.deepEqual(sent(actions), [{ type: "ack", seq: 5 }]);
  // Rendered from the page at 7 but the socket resumed at 5: the ack waits for the socket.
  ({ state, actions } = run(initialState({ threadId: "t", renderedSeq: 7 }), [hello(5), { type: "tick" }]));
  assert.deepEqual(sent(actions), [{ type: "ack", seq: 5 }]);
});

test("an ack the ledger refuses falls back to what this socket carried, quietly", () => {
  const refused = { type: "frame", frame: { type: "error", code: "ack_beyond_sent", detail: "x" } };
  let { state, actions } = run(initialState({ threadId: "t", renderedSeq: 7 }), [hello(7), { type: "tick" }]);
  assert.deepEqual(sent(actions), [{ type: "ack", seq: 7 }]);
  ({ state, actions } = run(state, [refused, { type: "tick" }]));
  assert.ok(!actions.some((a) => a.type === "notice"));
  assert.deepEqual(sent(actions), []); // nothing this socket carried yet
  ({ state, actions } = run(state, [ev(6), ev(7), { type: "tick" }])); // the server's retry
  assert.deepEqual(sent(actions), [{ type: "ack", seq: 7 }]);
});

test("a redelivered event that was already acked is acked again", () => {
  let { state, actions } = run(initialState({ threadId: "t" }), [hello(), ev(1), ev(2), { type: "tick" }]);
  assert.deepEqual(sent(actions), [{ type: "ack", seq: 2 }]);
  ({ state, actions } = run(state, [ev(2), { type: "tick" }]));
  assert.deepEqual(sent(actions), [{ type: "ack", seq: 2 }]);
});

test("answers ping with pong carrying the same t", () => {
  const { actions } = run(initialState({ threadId: "t" }), [hello(), { type: "frame", frame: { type: "ping", t: 12.5 } }]);
  assert.deepEqual(sent(actions), [{ type: "pong", t: 12.5 }]);
});

test("error frames become problems for the page to put in words", () => {
  const { actions } = run(initialState({ threadId: "t" }), [{ type: "frame", frame: { type: "error", code: "rate_limited", detail: "slow down" } }]);
  assert.deepEqual(actions.filter((a) => a.type === "problem"), [{ type: "problem", code: "rate_limited", detail: "slow down" }]);
});

test("a dropped socket reconnects with growing, jittered backoff and says reconnecting", () => {
  const { state, actions } = run(initialState({ threadId: "t" }), [hello(), ev(1), { type: "socket_closed", code: 1006, random: 0.5 }]);
  assert.equal(state.mode, "reconnecting");
  assert.ok(actions.some((a) => a.type === "status" && a.status === "reconnecting"));
  const connect = actions.find((a) => a.type === "connect");
  assert.equal(connect.delay, backoff(1, 0.5));
  assert.ok(backoff(2, 0) >= backoff(1, 1) && backoff(3, 0) < backoff(3, 1));
  assert.ok(backoff(50, 1) <= 10000);
});

test("after repeated socket failures it tries the long poll, and says Polling only once a page arrives", () => {
  const closes = Array.from({ length: MAX_SOCKET_FAILURES }, () => ({ type: "socket_closed", code: 1006, random: 0 }));
  let { state, actions } = run(initialState({ threadId: "t" }), closes);
  assert.ok(actions.some((a) => a.type === "poll"));
  assert.notEqual(statusOf(state), "polling");
  ({ state, actions } = run(state, [{ type: "poll_page", page: { events: [], last_seq: 0 } }]));
  assert.equal(statusOf(state), "polling");
  assert.ok(actions.some((a) => a.type === "connect" && a.delay >= 10000)); // and keeps probing the socket
});

test("polling renders pages, acks over HTTP, and a socket hello ends polling", () => {
  let state = initialState({ threadId: "t" });
  state = { ...state, mode: "polling" };
  const page = { events: [1, 2, 2, 3].map((seq) => ({ seq })), last_seq: 3 };
  let { state: next, actions } = run(state, [{ type: "poll_page", page }, { type: "tick" }]);
  assert.deepEqual(rendered(actions), [1, 2, 3]);
  assert.deepEqual(actions.filter((a) => a.type === "http_ack"), [{ type: "http_ack", seq: 3 }]);
  assert.ok(actions.some((a) => a.type === "poll"));
  ({ state: next, actions } = run(next, [hello(3), { type: "poll_page", page: { events: [], last_seq: 3 } }]));
  assert.equal(next.mode, "live");
  assert.ok(!actions.some((a) => a.type === "poll"));
});

test("an ahead-of-ledger resync closes the socket, clears the view and reloads the newest turns", () => {
  let { state, actions } = run(initialState({ threadId: "t", renderedSeq: 5 }), [
    hello(5),
    { type: "frame", frame: { type: "resync", from: 2, to: 5, reason: "ahead_of_ledger" } },
  ]);
  assert.equal(statusOf(state), "catching_up");
  assert.equal(state.rendered, 0);
  assert.deepEqual(actions.slice(-3), [{ type: "close_socket" }, { type: "reset_view" }, { type: "reload", before: 3 }]);
  ({ state, actions } = run(state, [{ type: "reload_page", events: [{ seq: 1 }, { seq: 2 }] }]));
  assert.deepEqual(rendered(actions), [1, 2]);
  assert.ok(actions.some((a) => a.type === "connect"));
});

test("a retention resync says older messages are gone and goes on past them", () => {
  const resync = { type: "frame", frame: { type: "resync", from: 2, to: 6, reason: "retention" } };
  const { state, actions } = run(initialState({ threadId: "t", renderedSeq: 2 }), [hello(2), resync, ev(7), ev(8)]);
  assert.ok(actions.some((a) => a.type === "pruned"));
  assert.deepEqual(rendered(actions), [7, 8]);
  assert.ok(!actions.some((a) => a.type === "reset_view"));
  assert.equal(state.rendered, 8);
});

test("a refused socket (not your thread) stops retrying", () => {
  const { state, actions } = run(initialState({ threadId: "t" }), [{ type: "socket_closed", code: 4403 }]);
  assert.equal(state.mode, "closed");
  assert.ok(!actions.some((a) => a.type === "connect"));
  assert.ok(actions.some((a) => a.type === "status" && a.status === "closed"));
});

test("a socket closed with 4401 means signed out: no reconnect loop", () => {
  const { state, actions } = run(initialState({ threadId: "t" }), [hello(), { type: "socket_closed", code: 4401 }, { type: "connect_due" }]);
  assert.equal(statusOf(state), "signed_out");
  assert.ok(!actions.some((a) => a.type === "connect" || a.type === "open_socket"));
});

test("a stored seq beyond the page is corrected quietly on start: no numbers for people", () => {
  const { actions } = run(initialState({ threadId: "t", renderedSeq: 2 }), [{ type: "start", storedSeq: 9 }]);
  assert.deepEqual(actions, [{ type: "store", seq: 2 }, { type: "connect", delay: 0 }]);
});
