// The watchdog on a silent socket, honest status, and the retry of an unsent message:
// first the pure machine, then the Client glue against a fake browser. node --test tests/js/
const test = require("node:test");
const assert = require("node:assert/strict");
const { step, initialState, statusOf } = require("../../delivery/static/delivery/machine.js");
const { Client } = require("../../delivery/static/delivery/client.js");

function run(state, inputs) {
  const actions = [];
  for (const input of inputs) {
    const out = step(state, input);
    state = out.state;
    actions.push(...out.actions);
  }
  return { state, actions };
}

const SILENCE = 3000;
const fresh = () => initialState({ threadId: "t", silenceMs: SILENCE });
const hello = { type: "frame", frame: { type: "hello", last_seq: 0, resumed_from: 0 } };
const ping = { type: "frame", frame: { type: "ping", t: 1 } };
const of = (actions, type) => actions.filter((a) => a.type === type);
const statuses = (actions) => of(actions, "status").map((a) => a.status);

test("the watchdog is armed on connect and by every frame, for ping interval + timeout", () => {
  const { actions } = run(fresh(), [{ type: "connect_due" }, hello, ping]);
  assert.deepEqual(of(actions, "watchdog").map((a) => a.delay), [SILENCE, SILENCE, SILENCE]);
});

test("a silent socket is closed by the watchdog and the page says Offline with a countdown, not Live", () => {
  let { state, actions } = run(fresh(), [{ type: "connect_due" }, hello, { type: "watchdog_expired", random: 0 }]);
  assert.deepEqual(of(actions, "close_socket").length, 1);
  const offline = of(actions, "status").pop();
  assert.equal(offline.status, "offline");
  assert.ok(offline.retryInMs > 0);
  assert.equal(of(actions, "connect").pop().delay, offline.retryInMs); // the countdown is the truth
  ({ state, actions } = run(state, [{ type: "connect_due" }]));
  assert.deepEqual(statuses(actions), ["reconnecting"]);
  assert.ok(of(actions, "open_socket").length === 1 && of(actions, "watchdog").length === 1);
  ({ state, actions } = run(state, [{ type: "watchdog_expired", random: 0 }])); // the handshake hangs too
  assert.equal(statusOf(state), "offline");
});

test("while nothing works the status is never Live or Polling", () => {
  const down = [];
  let state = fresh();
  for (let i = 0; i < 6; i += 1) {
    const out = run(state, [{ type: "connect_due" }, { type: "socket_closed", code: 1006, random: 0.5 }]);
    state = out.state;
    down.push(...statuses(out.actions));
    if (out.actions.some((a) => a.type === "poll")) {
      const failed = run(state, [{ type: "poll_failed", status: 0, random: 0.5 }]);
      state = failed.state;
      down.push(...statuses(failed.actions));
    }
  }
  assert.ok(down.includes("offline") && down.includes("reconnecting"));
  assert.ok(!down.includes("live") && !down.includes("polling"));
});

test("the browser's offline event drops a live socket at once; online retries now", () => {
  let { state, actions } = run(fresh(), [{ type: "connect_due" }, hello, { type: "network_offline", random: 0 }]);
  assert.ok(of(actions, "close_socket").length === 1);
  assert.equal(statusOf(state), "offline");
  ({ state, actions } = run(state, [{ type: "network_online" }]));
  assert.deepEqual(of(actions, "connect"), [{ type: "connect", delay: 0 }]);
});

test("an unsent message waits, then goes once with the same client_id when the socket returns", () => {
  let { state, actions } = run(fresh(), [{ type: "connect_due" }, hello, { type: "send_message", text: "hi", clientId: "c1" }]);
  assert.deepEqual(of(actions, "post_message"), [{ type: "post_message", text: "hi", clientId: "c1" }]);
  ({ state, actions } = run(state, [
    { type: "socket_closed", code: 1006, random: 0 },
    { type: "message_failed", clientId: "c1", status: 0 }, // the server is down
    { type: "connect_due" },
    { type: "socket_closed", code: 1006, random: 0 },
  ]));
  assert.equal(state.outbox.state, "waiting");
  assert.equal(of(actions, "post_message").length, 0); // nothing is sent into a dead transport
  ({ state, actions } = run(state, [{ type: "connect_due" }, hello, hello]));
  assert.deepEqual(of(actions, "post_message"), [{ type: "post_message", text: "hi", clientId: "c1" }]);
  ({ state, actions } = run(state, [{ type: "message_posted", clientId: "c1", seq: 4 }]));
  assert.equal(state.outbox, null);
  assert.deepEqual(of(actions, "outbox"), [{ type: "outbox", outbox: null, posted: { clientId: "c1", seq: 4, text: "hi" } }]);
});

test("a message sent while offline is kept and goes when the long poll works again", () => {
  let { state, actions } = run(fresh(), [{ type: "network_offline", random: 0 }, { type: "send_message", text: "hi", clientId: "c2" }]);
  assert.equal(of(actions, "post_message").length, 0);
  assert.equal(state.outbox.state, "waiting");
  ({ state, actions } = run({ ...state, mode: "reconnecting", online: true }, [{ type: "poll_page", page: { events: [], last_seq: 0 } }]));
  assert.equal(statusOf(state), "polling");
  assert.deepEqual(of(actions, "post_message"), [{ type: "post_message", text: "hi", clientId: "c2" }]);
});

test("over the budget: the retry waits the server's Retry-After, never less", () => {
  let { state, actions } = run(fresh(), [{ type: "connect_due" }, hello, { type: "send_message", text: "hi", clientId: "c3" }]);
  ({ state, actions } = run(state, [{ type: "message_failed", clientId: "c3", status: 429, retryAfter: 7 }]));
  assert.deepEqual(of(actions, "retry_message"), [{ type: "retry_message", delay: 7000 }]);
  assert.equal(state.outbox.state, "slowed");
  ({ state, actions } = run(state, [{ type: "send_message", text: "hi", clientId: "c3" }]));
  assert.equal(of(actions, "post_message").length, 0); // pressing Send again does not jump the wait
  ({ state, actions } = run(state, [{ type: "retry_message" }]));
  assert.deepEqual(of(actions, "post_message"), [{ type: "post_message", text: "hi", clientId: "c3" }]);
});

test("a double submit posts once; a refused message stays for the user to change", () => {
  let { state, actions } = run(fresh(), [hello, { type: "send_message", text: "x", clientId: "c4" }, { type: "send_message", text: "x", clientId: "c4" }]);
  assert.equal(of(actions, "post_message").length, 1);
  ({ state, actions } = run(state, [{ type: "message_failed", clientId: "c4", status: 400, detail: "too long" }, hello]));
  assert.equal(state.outbox.state, "refused");
  assert.equal(of(actions, "post_message").length, 0);
});

test("a post answered 401 means signed out", () => {
  const { state } = run(fresh(), [hello, { type: "send_message", text: "x", clientId: "c5" }, { type: "message_failed", clientId: "c5", status: 401 }]);
  assert.equal(statusOf(state), "signed_out");
  assert.equal(state.outbox.state, "signed_out");
});

/** A browser without a browser: a virtual clock, scripted sockets and fetch. */
function fakeBrowser() {
  let now = 0;
  let nextId = 1;
  const timers = new Map();
  const sockets = [];
  const posts = [];
  const env = {
    server: "down",
    Date: { now: () => now },
    setTimeout: (fn, ms) => (timers.set(nextId, { at: now + (ms || 0), fn }), nextId++),
    clearTimeout: (id) => timers.delete(id),
    setInterval: () => 0,
    addEventListener: () => {},
    localStorage: { getItem: () => null, setItem: () => {} },
    location: { protocol: "http:", host: "test" },
    WebSocket: class {
      constructor(url) {
        Object.assign(this, { url, readyState: 0, sent: [] });
        sockets.push(this);
      }
      send(text) {
        this.sent.push(JSON.parse(text));
      }
      close() {
        this.readyState = 3;
      }
    },
    fetch: async (path, options) => {
      const body = JSON.parse(options.body || "{}");
      posts.push({ path, body });
      if (env.server === "down") throw new TypeError("Failed to fetch");
      const event = { type: "event", seq: 1, event: "user_message", payload: { text: body.text, client_id: body.client_id } };
      return { ok: true, status: 201, headers: { get: () => null }, json: async () => ({ event, created: true }) };
    },
  };
  const settle = async () => {
    for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve)); // fetch's promises
  };
  async function advance(ms) {
    const until = now + ms;
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      now = Math.max(now, due[1].at);
      due[1].fn();
      await settle();
    }
    now = until;
    await settle();
  }
  const serve = (socket, frame) => {
    socket.readyState = 1;
    socket.onmessage({ data: JSON.stringify(frame) });
  };
  return { env, sockets, posts, advance, serve };
}

test("Client: the watchdog closes a silent socket, and the unsent message is posted once when it returns", async () => {
  const browser = fakeBrowser();
  const shown = [];
  const outboxes = [];
  const view = { status: (s) => shown.push(s), outbox: (o) => outboxes.push(o && o.state), render() {}, problem() {} };
  const client = new Client({ threadId: "t", renderedSeq: 0, csrfToken: "x", view, env: browser.env, silenceMs: SILENCE });
  client.start();
  await browser.advance(0);
  browser.serve(browser.sockets[0], { type: "hello", last_seq: 0, resumed_from: 0 });
  assert.equal(shown.at(-1), "live");

  await browser.advance(SILENCE - 1); // not a ping for the whole bound: the server froze
  assert.equal(shown.at(-1), "live");
  await browser.advance(1);
  assert.equal(browser.sockets[0].readyState, 3);
  assert.equal(shown.at(-1), "offline");

  await browser.advance(10000); // the next attempt opens a socket, whose handshake hangs
  assert.equal(shown.at(-1), "reconnecting");
  const socket = browser.sockets.at(-1);
  assert.notEqual(socket, browser.sockets[0]);
  client.send("still there?", "c9"); // tried, and refused: the server is down
  await browser.advance(0);
  assert.equal(outboxes.at(-1), "waiting");

  browser.env.server = "up";
  browser.serve(socket, { type: "hello", last_seq: 0, resumed_from: 0 });
  await browser.advance(0);
  assert.equal(shown.at(-1), "live");
  assert.equal(outboxes.at(-1), null);
  const sends = browser.posts.filter((p) => p.path.endsWith("/messages")).map((p) => p.body.client_id);
  assert.deepEqual(sends, ["c9", "c9"]); // the failed try and the retry: one client_id, one message
  await browser.advance(30000);
  assert.equal(browser.posts.filter((p) => p.path.endsWith("/messages")).length, 2);
});
