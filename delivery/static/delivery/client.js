/* Ledgerline browser client: performs the protocol machine's actions (machine.js) with a real
 * WebSocket, fetch, timers, localStorage and the browser's online/offline events, and pages
 * back through history over HTTP. It touches no DOM: a `view` renders. Load machine.js first.
 */
(function (root, factory) {
  const machine = typeof module === "object" && module.exports ? require("./machine.js") : root.LedgerlineMachine;
  const api = factory(machine);
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.Ledgerline = api;
})(typeof self !== "undefined" ? self : this, function (machine) {
  "use strict";

  const { step, initialState, ACK_INTERVAL_MS, POLL_WAIT_S } = machine;
  const HISTORY_PAGE = 200;

  /** History is paged back to a user message, so that no answer shows without its question. */
  function turnComplete(events, firstRetained) {
    const oldest = events[0];
    return !oldest || oldest.event === "user_message" || firstRetained === null || oldest.seq <= firstRetained;
  }

  class Client {
    constructor({ threadId, renderedSeq, csrfToken, view, env = globalThis, probeDelayMs, silenceMs }) {
      Object.assign(this, { threadId, csrfToken, view, env });
      this.state = initialState({ threadId, renderedSeq, probeDelayMs, silenceMs });
      this.storageKey = `ledgerline:rendered:${threadId}`;
      this.renderLog = [];
      this.socket = null;
      this.timers = {}; // one of each: connect, watchdog, retry
      this.watchdogAt = 0;
      this.polling = false;
    }

    start() {
      const stored = Number(this.env.localStorage.getItem(this.storageKey) || 0);
      this.dispatch({ type: "start", storedSeq: stored });
      this.env.setInterval(() => this.dispatch({ type: "tick" }), ACK_INTERVAL_MS);
      this.env.addEventListener("offline", () => this.dispatch({ type: "network_offline", random: Math.random() }));
      this.env.addEventListener("online", () => this.dispatch({ type: "network_online" }));
      if (this.env.navigator && this.env.navigator.onLine === false) this.dispatch({ type: "network_offline" });
    }

    dispatch(input) {
      const { state, actions } = step(this.state, input);
      this.state = state;
      for (const action of actions) this.perform(action);
    }

    perform(action) {
      const run = {
        render: () => {
          this.renderLog.push(action.event.seq);
          this.view.render(action.event);
        },
        store: () => this.env.localStorage.setItem(this.storageKey, String(action.seq)),
        send: () => this.socket && this.socket.readyState === 1 && this.socket.send(JSON.stringify(action.frame)),
        status: () => this.view.status(action.status, action.retryInMs),
        problem: () => this.view.problem(action.code, action.detail),
        pruned: () => this.view.pruned(),
        connect: () => this.later("connect", action.delay, { type: "connect_due" }),
        open_socket: () => this.openSocket(action.after),
        close_socket: () => this.closeSocket(),
        watchdog: () => this.armWatchdog(action.delay),
        poll: () => this.env.setTimeout(() => this.pollOnce(), action.delay),
        http_ack: () => this.post(`/api/threads/${this.threadId}/ack`, { seq: action.seq }).catch(() => {}),
        reset_view: () => this.view.reset(),
        reload: () => this.reload(action.before),
        post_message: () => this.postOutbox(action.text, action.clientId),
        outbox: () => this.view.outbox(action.outbox, action.posted),
        retry_message: () => this.later("retry", action.delay, { type: "retry_message" }),
      }[action.type];
      if (run) run();
    }

    /** Dispatch `input` after `delay` ms; a newer timer of the same name replaces it. */
    later(name, delay, input) {
      this.env.clearTimeout(this.timers[name]);
      this.timers[name] = this.env.setTimeout(() => this.dispatch(input), delay);
    }

    /** Fires when nothing came from the socket for `delay` ms: a dead socket may never close. */
    armWatchdog(delay) {
      const clock = this.env.Date || Date;
      this.watchdogAt = clock.now() + delay;
      if (this.timers.watchdog) return;
      const check = () => {
        const left = this.watchdogAt - clock.now();
        if (left > 0) return (this.timers.watchdog = this.env.setTimeout(check, left));
        this.timers.watchdog = null;
        if (this.socket) this.dispatch({ type: "watchdog_expired", random: Math.random() });
      };
      this.timers.watchdog = this.env.setTimeout(check, delay);
    }

    disarmWatchdog() {
      this.env.clearTimeout(this.timers.watchdog);
      this.timers.watchdog = null;
    }

    openSocket(after) {
      this.closeSocket();
      const { location } = this.env;
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const url = `${scheme}://${location.host}/ws/threads/${this.threadId}/?after=${after}`;
      let socket;
      try {
        socket = new this.env.WebSocket(url);
      } catch (error) {
        this.env.setTimeout(() => this.dispatch({ type: "socket_closed", code: 1006, random: Math.random() }), 0);
        return;
      }
      this.socket = socket;
      socket.onmessage = (message) => {
        if (this.socket !== socket) return;
        let frame;
        try {
          frame = JSON.parse(message.data);
        } catch (error) {
          return this.view.problem("bad_frame", "");
        }
        this.dispatch({ type: "frame", frame });
      };
      socket.onclose = (event) => {
        if (this.socket !== socket) return; // replaced or closed on purpose
        this.socket = null;
        this.disarmWatchdog();
        this.dispatch({ type: "socket_closed", code: event.code, random: Math.random() });
      };
    }

    closeSocket() {
      const socket = this.socket;
      this.socket = null;
      this.disarmWatchdog();
      if (socket && socket.readyState <= 1) socket.close(1000);
    }

    async pollOnce() {
      const mode = this.state.mode;
      if (this.polling || (mode !== "polling" && mode !== "reconnecting")) return;
      this.polling = true;
      try {
        const after = this.state.rendered;
        const page = await this.getJson(`/api/threads/${this.threadId}/events?after=${after}&wait=${POLL_WAIT_S}`);
        this.polling = false;
        this.dispatch({ type: "poll_page", page });
      } catch (error) {
        this.polling = false;
        this.dispatch({ type: "poll_failed", status: error.status || 0, random: Math.random() });
      }
    }

    async getJson(path, timeoutMs) {
      const options = { credentials: "same-origin", headers: { Accept: "application/json" } };
      if (timeoutMs && this.env.AbortSignal) options.signal = this.env.AbortSignal.timeout(timeoutMs);
      const response = await this.env.fetch(path, options);
      if (!response.ok) throw Object.assign(new Error("request failed"), { status: response.status });
      return response.json();
    }

    /** The whole turns before seq `before`, oldest first, paged back over `?before=`. */
    async history(before) {
      let events = [];
      let page = null;
      do {
        const path = `/api/threads/${this.threadId}/events?before=${before}&limit=${HISTORY_PAGE}`;
        page = await this.getJson(path, this.state.silenceMs);
        events = page.events.slice().reverse().concat(events);
        if (page.events.length) before = events[0].seq;
      } while (page.events.length === HISTORY_PAGE && !turnComplete(events, page.first_retained));
      const first = page.first_retained;
      const more = first !== null && events.length > 0 && events[0].seq > first;
      const pruned = !more && (first === null ? page.last_seq > 0 : first > 1);
      return { events, more, pruned };
    }

    /** After an `ahead_of_ledger` resync: the newest turns again, then the socket. */
    async reload(before) {
      for (;;) {
        try {
          const page = await this.history(before);
          this.view.historyEdge(page);
          return this.dispatch({ type: "reload_page", events: page.events });
        } catch (error) {
          await new Promise((resolve) => this.env.setTimeout(resolve, 1000));
        }
      }
    }

    post(path, body, timeoutMs) {
      const options = {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": this.csrfToken },
        body: JSON.stringify(body),
      };
      if (timeoutMs && this.env.AbortSignal) options.signal = this.env.AbortSignal.timeout(timeoutMs);
      return this.env.fetch(path, options);
    }

    /** One try at the user's turn, over HTTP: its answer confirms the commit in every state. */
    async postMessage(text, clientId) {
      const path = `/api/threads/${this.threadId}/messages`;
      try {
        const response = await this.post(path, { text, client_id: clientId }, this.state.silenceMs);
        const body = await response.json().catch(() => ({}));
        const retryAfter = Number(response.headers.get("Retry-After")) || 0;
        return { ok: response.ok, status: response.status, retryAfter, body };
      } catch (error) {
        return { ok: false, status: 0, retryAfter: 0, body: {} }; // offline, refused or timed out
      }
    }

    async postOutbox(text, clientId) {
      const result = await this.postMessage(text, clientId);
      if (result.ok) return this.dispatch({ type: "message_posted", clientId, seq: result.body.event.seq });
      const detail = result.body.detail || "";
      this.dispatch({ type: "message_failed", clientId, status: result.status, retryAfter: result.retryAfter, detail });
    }

    /** The user's turn: kept by the machine until the server confirms it (see `outbox`). */
    send(text, clientId) {
      this.dispatch({ type: "send_message", text, clientId });
    }
  }

  return { ...machine, Client, turnComplete, HISTORY_PAGE };
});
