/* Ledgerline's wire protocol as a pure state machine (docs/protocol.md).
 *
 * `step(state, input) -> {state, actions}`: a frame, a close, a poll page or a timer tick goes
 * in; what to render, send, store or schedule comes out. No I/O here: `client.js` performs the
 * actions in a browser, and Node's test runner drives `step` directly (tests/js/).
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.LedgerlineMachine = api;
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";


  const MAX_SOCKET_FAILURES = 3; // consecutive failures before falling back to long-polling
  const BASE_DELAY_MS = 400;
  const MAX_DELAY_MS = 10000;
  const PROBE_DELAY_MS = 15000; // while polling, try the WebSocket again this often
  const ACK_INTERVAL_MS = 100;
  const POLL_WAIT_S = 20;
  const FINAL_CLOSES = { 4400: "bad_request", 4401: "unauthenticated", 4403: "forbidden" };

  /** Exponential backoff with jitter: half the cap, plus up to half again at random. */
  function backoff(failures, random) {
    const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, failures - 1));
    return Math.round(cap / 2 + (random * cap) / 2);
  }

  function initialState({ threadId, renderedSeq = 0, probeDelayMs = PROBE_DELAY_MS }) {
    return {
      threadId,
      probeDelayMs,
      rendered: renderedSeq, // the highest seq rendered; everything up to it is on screen
      ackSent: 0, // the last cumulative ack sent (socket or HTTP)
      socketSeq: 0, // the highest seq this socket resumed from or sent us: an ack may not pass it
      socketGot: 0, // the highest seq this socket actually sent us
      mode: "connecting", // connecting | live | reconnecting | polling | resync | closed
      failures: 0,
      pollFailures: 0,
      resumeAfter: null, // a resume in flight after a gap
      duplicates: 0,
      gaps: 0,
    };
  }

  function step(previous, input) {
    const s = { ...previous };
    const actions = [];
    const handler = HANDLERS[input.type];
    if (handler) handler(s, input, actions);
    return { state: s, actions };
  }

  function setMode(s, mode, actions) {
    if (s.mode !== mode) actions.push({ type: "status", status: mode });
    s.mode = mode;
  }

  /** Render an event once, in seq order. A repeat is dropped; a jump asks for a resume. */
  function takeEvent(s, frame, actions, { allowGap = false } = {}) {
    if (frame.seq <= s.rendered) {
      s.duplicates += 1;
      return;
    }
    if (frame.seq > s.rendered + 1 && !allowGap) {
      s.gaps += 1;
      if (s.mode === "live" && s.resumeAfter !== s.rendered) {
        s.resumeAfter = s.rendered;
        actions.push({ type: "send", frame: { type: "resume", after: s.rendered } });
      }
      return;
    }
    s.rendered = frame.seq;
    if (s.resumeAfter !== null && s.rendered > s.resumeAfter) s.resumeAfter = null;
    actions.push({ type: "render", event: frame });
    actions.push({ type: "store", seq: s.rendered });
  }

  function startResync(s, actions, detail) {
    setMode(s, "resync", actions);
    s.rendered = 0;
    s.ackSent = 0;
    s.socketSeq = 0;
    s.socketGot = 0;
    s.resumeAfter = null;
    actions.push({ type: "close_socket" });
    actions.push({ type: "notice", level: "info", text: detail });
    actions.push({ type: "reset_view" });
    actions.push({ type: "reload" });
  }

  const FRAMES = {
    hello(s, frame, actions) {
      s.failures = 0;
      s.socketSeq = frame.resumed_from;
      setMode(s, "live", actions);
    },
    event(s, frame, actions) {
      s.socketSeq = Math.max(s.socketSeq, frame.seq);
      s.socketGot = Math.max(s.socketGot, frame.seq);
      // A redelivery of something already acked means that ack never reached the ledger.
      if (frame.seq <= s.ackSent) s.ackSent = frame.seq - 1;
      takeEvent(s, frame, actions);
    },
    ping(s, frame, actions) {
      actions.push({ type: "send", frame: { type: "pong", t: frame.t } });
    },
    error(s, frame, actions) {
      if (frame.code === "ack_beyond_sent") {
        // The ledger has no record of sending what we resumed from (its server died before
        // writing it down): ack only what this socket carried; a redelivery brings the rest.
        s.socketSeq = s.socketGot;
        s.ackSent = Math.min(s.ackSent, s.socketGot);
        return;
      }
      actions.push({ type: "notice", level: "error", text: `${frame.code}: ${frame.detail}` });
    },
    resync(s, frame, actions) {
      startResync(s, actions, `Reloading the thread (${frame.reason}).`);
    },
  };

  const HANDLERS = {
    start(s, input, actions) {
      if ((input.storedSeq || 0) > s.rendered) {
        actions.push({
          type: "notice",
          level: "info",
          text: `This browser had seen up to #${input.storedSeq}; the ledger has #${s.rendered}.`,
        });
        actions.push({ type: "store", seq: s.rendered });
      }
      actions.push({ type: "status", status: "connecting" });
      actions.push({ type: "connect", delay: 0 });
    },
    frame(s, input, actions) {
      const handle = FRAMES[input.frame && input.frame.type];
      if (handle) handle(s, input.frame, actions);
    },
    socket_closed(s, input, actions) {
      s.socketSeq = 0;
      s.socketGot = 0;
      if (s.mode === "resync" || s.mode === "closed") return;
      if (FINAL_CLOSES[input.code]) {
        setMode(s, "closed", actions);
        actions.push({ type: "notice", level: "error", text: `Disconnected: ${FINAL_CLOSES[input.code]}` });
        return;
      }
      s.failures += 1;
      if (s.mode === "polling") {
        actions.push({ type: "connect", delay: s.probeDelayMs });
      } else if (s.failures >= MAX_SOCKET_FAILURES) {
        setMode(s, "polling", actions);
        actions.push({ type: "poll", delay: 0 });
        actions.push({ type: "connect", delay: s.probeDelayMs });
      } else {
        setMode(s, "reconnecting", actions);
        actions.push({ type: "connect", delay: backoff(s.failures, input.random || 0) });
      }
    },
    tick(s, input, actions) {
      const ackable = s.mode === "live" ? Math.min(s.rendered, s.socketSeq) : s.rendered;
      if (ackable <= s.ackSent || (s.mode !== "live" && s.mode !== "polling")) return;
      s.ackSent = ackable;
      if (s.mode === "live") actions.push({ type: "send", frame: { type: "ack", seq: ackable } });
      else actions.push({ type: "http_ack", seq: ackable });
    },
    poll_page(s, input, actions) {
      s.pollFailures = 0;
      if (input.page.resync) {
        startResync(s, actions, `Reloading the thread (${input.page.resync.reason}).`);
        return;
      }
      for (const frame of input.page.events) takeEvent(s, frame, actions);
      if (s.mode === "polling") actions.push({ type: "poll", delay: 0 });
    },
    poll_failed(s, input, actions) {
      if (s.mode !== "polling") return;
      if (input.status === 401 || input.status === 403 || input.status === 404) {
        setMode(s, "closed", actions);
        actions.push({ type: "notice", level: "error", text: `Polling refused (${input.status})` });
        return;
      }
      s.pollFailures += 1;
      actions.push({ type: "poll", delay: backoff(s.pollFailures, input.random || 0) });
    },
    reload_page(s, input, actions) {
      for (const frame of input.page.events) takeEvent(s, frame, actions, { allowGap: true });
      if (!input.done) return;
      setMode(s, "connecting", actions);
      actions.push({ type: "connect", delay: 0 });
    },
  };

  /** Performs the machine's actions in a browser (or anything with the same globals). */

  return { step, initialState, backoff, MAX_SOCKET_FAILURES, PROBE_DELAY_MS, ACK_INTERVAL_MS, POLL_WAIT_S };
});
