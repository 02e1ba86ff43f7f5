/* Ledgerline's wire protocol as a pure state machine (docs/protocol.md).
 *
 * `step(state, input) -> {state, actions}`: a frame, a close, a poll page, a timer or a network
 * change goes in; what to render, send, store, schedule or show comes out. No I/O here:
 * `client.js` performs the actions in a browser, and Node's test runner drives `step` directly
 * (tests/js/). The status it reports never claims a transport that is failing.
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.LedgerlineMachine = api;
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  const MAX_SOCKET_FAILURES = 3; // consecutive failures before trying the long poll
  const BASE_DELAY_MS = 400;
  const MAX_DELAY_MS = 10000;
  const PROBE_DELAY_MS = 15000; // while polling, try the WebSocket again this often
  const SILENCE_MS = 17000; // the server's ping interval + ping timeout (5 s + 12 s)
  const ACK_INTERVAL_MS = 100;
  const POLL_WAIT_S = 20;
  const FINAL_CLOSES = { 4400: "closed", 4401: "signed_out", 4403: "closed" };
  const ENDED = new Set(["signed_out", "closed"]);

  /** Exponential backoff with jitter: half the cap, plus up to half again at random. */
  function backoff(failures, random) {
    const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, failures - 1));
    return Math.round(cap / 2 + (random * cap) / 2);
  }

  function initialState({ threadId, renderedSeq = 0, probeDelayMs = PROBE_DELAY_MS, silenceMs = SILENCE_MS }) {
    return {
      threadId,
      probeDelayMs,
      silenceMs,
      rendered: renderedSeq, // the highest seq rendered; everything up to it is on screen
      ackSent: 0, // the last cumulative ack sent (socket or HTTP)
      socketSeq: 0, // the highest seq this socket resumed from or sent us: an ack may not pass it
      socketGot: 0, // the highest seq this socket actually sent us
      mode: "connecting", // connecting | live | reconnecting | polling | offline | resync | signed_out | closed
      catchUpTo: 0, // the ledger's last seq when the transport (re)joined: below it we catch up
      shown: "connecting", // the status last reported
      retryInMs: null, // offline: when the next attempt starts
      retryChanged: false, // a new offline countdown to report even if the status is the same
      online: true, // the browser's own view of the network
      failures: 0,
      outbox: null, // the user's message not yet confirmed: {text, clientId, state, tries}
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
    report(s, actions);
    return { state: s, actions };
  }

  /** What the page says about the connection, derived once per step. */
  function statusOf(s) {
    if ((s.mode === "live" || s.mode === "polling") && s.catchUpTo > s.rendered) return "catching_up";
    if (s.mode === "resync") return "catching_up";
    return s.mode;
  }

  function report(s, actions) {
    const status = statusOf(s);
    if (status === s.shown && !s.retryChanged) return;
    Object.assign(s, { shown: status, retryChanged: false });
    actions.push(status === "offline" ? { type: "status", status, retryInMs: s.retryInMs } : { type: "status", status });
  }

  function goOffline(s, actions, delay) {
    Object.assign(s, { mode: "offline", retryInMs: delay, retryChanged: true });
    actions.push({ type: "connect", delay });
  }

  /** Render an event once, in seq order. A repeat is dropped; a jump asks for a resume. */
  function takeEvent(s, frame, actions, { allowGap = false } = {}) {
    if (frame.seq <= s.rendered) return void (s.duplicates += 1);
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

  /** Seqs `from + 1 .. to` were pruned: say so where they would have been, and go on past them. */
  function skipPruned(s, resync, actions) {
    if (resync.to <= s.rendered) return;
    s.rendered = resync.to;
    actions.push({ type: "pruned" });
    actions.push({ type: "store", seq: s.rendered });
  }

  /** The client claims more than the ledger holds: start again from the ledger's newest turns. */
  function startReload(s, actions, before) {
    s.mode = "resync";
    Object.assign(s, { rendered: 0, ackSent: 0, socketSeq: 0, socketGot: 0, resumeAfter: null });
    actions.push({ type: "close_socket" }, { type: "reset_view" }, { type: "reload", before });
  }

  /** The transport works again: an unsent message goes now, with its first client_id. */
  const flushOutbox = (s, actions) => s.outbox && s.outbox.state === "waiting" && postOutbox(s, actions);

  function postOutbox(s, actions) {
    s.outbox = { ...s.outbox, state: "sending", tries: s.outbox.tries + 1 };
    const { text, clientId } = s.outbox;
    actions.push({ type: "post_message", text, clientId }, { type: "outbox", outbox: s.outbox });
  }

  function signOut(s, actions) {
    s.mode = "signed_out";
    actions.push({ type: "close_socket" });
    if (s.outbox) {
      s.outbox = { ...s.outbox, state: "signed_out" };
      actions.push({ type: "outbox", outbox: s.outbox });
    }
  }

  /** A socket closed or went silent without a final code. */
  function socketFailed(s, actions, { random = 0, silent = false } = {}) {
    s.failures += 1;
    if (s.mode === "polling") return actions.push({ type: "connect", delay: s.probeDelayMs });
    if (!s.online) return goOffline(s, actions, backoff(s.failures, random));
    if (s.failures >= MAX_SOCKET_FAILURES) {
      s.mode = "reconnecting"; // the long poll is tried now; it says Polling only once it works
      return actions.push({ type: "poll", delay: 0 });
    }
    if (s.failures > 1 || silent) return goOffline(s, actions, backoff(s.failures, random)); // silence lasted a while
    s.mode = "reconnecting";
    actions.push({ type: "connect", delay: backoff(1, random) });
  }

  const FRAMES = {
    hello(s, frame, actions) {
      Object.assign(s, { failures: 0, socketSeq: frame.resumed_from, catchUpTo: frame.last_seq || 0, mode: "live" });
      flushOutbox(s, actions);
    },
    event(s, frame, actions) {
      s.socketSeq = Math.max(s.socketSeq, frame.seq);
      s.socketGot = Math.max(s.socketGot, frame.seq);
      // A redelivery of something already acked means that ack never reached the ledger.
      if (frame.seq <= s.ackSent) s.ackSent = frame.seq - 1;
      takeEvent(s, frame, actions);
    },
    ping: (s, frame, actions) => actions.push({ type: "send", frame: { type: "pong", t: frame.t } }),
    error(s, frame, actions) {
      if (frame.code === "ack_beyond_sent") {
        // The ledger has no record of sending what we resumed from (its server died before
        // writing it down): ack only what this socket carried; a redelivery brings the rest.
        s.socketSeq = s.socketGot;
        s.ackSent = Math.min(s.ackSent, s.socketGot);
        return;
      }
      actions.push({ type: "problem", code: frame.code, detail: frame.detail || "" });
    },
    resync(s, frame, actions) {
      if (frame.reason === "retention") skipPruned(s, frame, actions);
      else startReload(s, actions, frame.from + 1);
    },
  };

  function outboxFailed(s, input, actions) {
    const status = input.status || 0;
    if (status === 401) return signOut(s, actions);
    if (status === 429) {
      const delay = Math.max(1, input.retryAfter || 1) * 1000; // never sooner than Retry-After
      s.outbox = { ...s.outbox, state: "slowed", retryInMs: delay };
      actions.push({ type: "outbox", outbox: s.outbox }, { type: "retry_message", delay });
    } else if (status >= 400 && status < 500) {
      s.outbox = { ...s.outbox, state: "refused", detail: input.detail || "" };
      actions.push({ type: "outbox", outbox: s.outbox });
    } else {
      // Not confirmed: keep it, and send it again with the same client_id, so it posts once.
      s.outbox = { ...s.outbox, state: "waiting" };
      actions.push({ type: "outbox", outbox: s.outbox });
      if (s.mode === "live" || s.mode === "polling") {
        actions.push({ type: "retry_message", delay: backoff(s.outbox.tries, input.random || 0) });
      }
    }
  }

  const HANDLERS = {
    start(s, input, actions) {
      // A browser that stored more than the page shows saw events of a ledger since restored.
      if ((input.storedSeq || 0) > s.rendered) actions.push({ type: "store", seq: s.rendered });
      actions.push({ type: "connect", delay: 0 });
    },
    connect_due(s, input, actions) {
      if (ENDED.has(s.mode) || s.mode === "live") return;
      if (s.mode === "offline") s.mode = "reconnecting";
      actions.push({ type: "open_socket", after: s.rendered }, { type: "watchdog", delay: s.silenceMs });
    },
    frame(s, input, actions) {
      if (ENDED.has(s.mode)) return;
      actions.push({ type: "watchdog", delay: s.silenceMs });
      const handle = FRAMES[input.frame && input.frame.type];
      if (handle) handle(s, input.frame, actions);
    },
    watchdog_expired(s, input, actions) {
      if (ENDED.has(s.mode) || s.mode === "resync") return;
      Object.assign(s, { socketSeq: 0, socketGot: 0 });
      actions.push({ type: "close_socket" });
      socketFailed(s, actions, { random: input.random, silent: true });
    },
    socket_closed(s, input, actions) {
      Object.assign(s, { socketSeq: 0, socketGot: 0 });
      if (ENDED.has(s.mode) || s.mode === "resync") return;
      const final = FINAL_CLOSES[input.code];
      if (final === "signed_out") return signOut(s, actions);
      if (final) return void (s.mode = "closed");
      socketFailed(s, actions, { random: input.random });
    },
    network_offline(s, input, actions) {
      s.online = false;
      if (ENDED.has(s.mode) || s.mode === "resync") return;
      actions.push({ type: "close_socket" });
      goOffline(s, actions, backoff(Math.max(1, s.failures + 1), input.random || 0));
    },
    network_online(s, input, actions) {
      s.online = true;
      if (s.mode === "offline") actions.push({ type: "connect", delay: 0 });
    },
    tick(s, input, actions) {
      const ackable = s.mode === "live" ? Math.min(s.rendered, s.socketSeq) : s.rendered;
      if (ackable <= s.ackSent || (s.mode !== "live" && s.mode !== "polling")) return;
      s.ackSent = ackable;
      if (s.mode === "live") actions.push({ type: "send", frame: { type: "ack", seq: ackable } });
      else actions.push({ type: "http_ack", seq: ackable });
    },
    poll_page(s, input, actions) {
      if (ENDED.has(s.mode) || s.mode === "resync") return;
      const page = input.page;
      if (s.mode === "reconnecting" || s.mode === "offline") {
        s.mode = "polling";
        actions.push({ type: "connect", delay: s.probeDelayMs }); // and keep trying the socket
      }
      if (page.resync && page.resync.reason !== "retention") return startReload(s, actions, page.resync.from + 1);
      if (page.resync) skipPruned(s, page.resync, actions);
      for (const frame of page.events) takeEvent(s, frame, actions);
      if (s.mode !== "polling") return;
      s.catchUpTo = Math.max(s.catchUpTo, page.last_seq || 0);
      actions.push({ type: "poll", delay: 0 });
      flushOutbox(s, actions);
    },
    poll_failed(s, input, actions) {
      if (s.mode !== "polling" && s.mode !== "reconnecting") return;
      if (input.status === 401) return signOut(s, actions);
      if (input.status === 403 || input.status === 404) return void (s.mode = "closed");
      goOffline(s, actions, backoff(s.failures, input.random || 0)); // the socket is tried first
    },
    reload_page(s, input, actions) {
      for (const frame of input.events) takeEvent(s, frame, actions, { allowGap: true });
      s.mode = "connecting";
      actions.push({ type: "connect", delay: 0 });
    },
    send_message(s, input, actions) {
      const held = s.outbox && (s.outbox.state === "sending" || s.outbox.state === "slowed");
      if (held) return; // a double submit, or sooner than Retry-After
      s.outbox = { text: input.text, clientId: input.clientId, state: "waiting", tries: 0 };
      if (s.mode === "signed_out") return signOut(s, actions);
      if (s.mode === "offline") return actions.push({ type: "outbox", outbox: s.outbox });
      postOutbox(s, actions);
    },
    message_posted(s, input, actions) {
      if (!s.outbox || s.outbox.clientId !== input.clientId) return;
      const posted = { clientId: input.clientId, seq: input.seq, text: s.outbox.text };
      s.outbox = null;
      actions.push({ type: "outbox", outbox: null, posted });
    },
    message_failed: (s, input, actions) => s.outbox && s.outbox.clientId === input.clientId && outboxFailed(s, input, actions),
    retry_message(s, input, actions) {
      const state = s.outbox && s.outbox.state;
      if (state === "slowed" || (state === "waiting" && s.mode !== "offline")) postOutbox(s, actions);
    },
    discard_message(s, input, actions) {
      if (!s.outbox || s.outbox.state === "sending") return;
      s.outbox = null;
      actions.push({ type: "outbox", outbox: null });
    },
  };

  const constants = { MAX_SOCKET_FAILURES, PROBE_DELAY_MS, SILENCE_MS, ACK_INTERVAL_MS, POLL_WAIT_S };
  return { step, initialState, backoff, statusOf, ...constants };
});
