/* Ledgerline browser client: performs the protocol machine's actions (machine.js) with a
 * real WebSocket, fetch, timers and localStorage, with an HTTP fallback. Load machine.js first.
 */
(function (root, factory) {
  const machine = typeof module === "object" && module.exports ? require("./machine.js") : root.LedgerlineMachine;
  const api = factory(machine);
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.Ledgerline = api;
})(typeof self !== "undefined" ? self : this, function (machine) {
  "use strict";

  const { step, initialState, backoff, ACK_INTERVAL_MS, POLL_WAIT_S } = machine;

  class Client {
    constructor({ threadId, renderedSeq, csrfToken, view, env = globalThis, probeDelayMs }) {
      this.threadId = threadId;
      this.csrfToken = csrfToken;
      this.view = view;
      this.env = env;
      this.state = initialState({ threadId, renderedSeq, probeDelayMs });
      this.storageKey = `ledgerline:rendered:${threadId}`;
      this.renderLog = [];
      this.socket = null;
      this.connectTimer = null;
      this.polling = false;
    }

    start() {
      const stored = Number(this.env.localStorage.getItem(this.storageKey) || 0);
      this.dispatch({ type: "start", storedSeq: stored });
      this.env.setInterval(() => this.dispatch({ type: "tick" }), ACK_INTERVAL_MS);
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
        status: () => this.view.status(action.status),
        notice: () => this.view.notice(action.level, action.text),
        connect: () => this.scheduleConnect(action.delay),
        close_socket: () => this.closeSocket(),
        poll: () => this.env.setTimeout(() => this.pollOnce(), action.delay),
        http_ack: () => this.post(`/api/threads/${this.threadId}/ack`, { seq: action.seq }).catch(() => {}),
        reset_view: () => this.view.reset(),
        reload: () => this.reload(),
      }[action.type];
      if (run) run();
    }

    scheduleConnect(delay) {
      this.env.clearTimeout(this.connectTimer);
      this.connectTimer = this.env.setTimeout(() => this.openSocket(), delay);
    }

    openSocket() {
      this.closeSocket();
      const { location } = this.env;
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const url = `${scheme}://${location.host}/ws/threads/${this.threadId}/?after=${this.state.rendered}`;
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
          return this.view.notice("error", "The server sent a frame that is not JSON.");
        }
        this.dispatch({ type: "frame", frame });
      };
      socket.onclose = (event) => {
        if (this.socket !== socket) return; // replaced or closed on purpose
        this.socket = null;
        this.dispatch({ type: "socket_closed", code: event.code, random: Math.random() });
      };
    }

    closeSocket() {
      const socket = this.socket;
      this.socket = null;
      if (socket && socket.readyState <= 1) socket.close(1000);
    }

    async pollOnce() {
      if (this.polling || this.state.mode !== "polling") return;
      this.polling = true;
      try {
        const after = this.state.rendered;
        const response = await this.env.fetch(
          `/api/threads/${this.threadId}/events?after=${after}&wait=${POLL_WAIT_S}`,
          { credentials: "same-origin", headers: { Accept: "application/json" } },
        );
        if (!response.ok) throw Object.assign(new Error("poll failed"), { status: response.status });
        const page = await response.json();
        this.polling = false;
        this.dispatch({ type: "poll_page", page });
      } catch (error) {
        this.polling = false;
        this.dispatch({ type: "poll_failed", status: error.status || 0, random: Math.random() });
      }
    }

    /** After a resync: fetch the whole thread over HTTP, page by page, then reconnect. */
    async reload() {
      let after = 0;
      for (;;) {
        try {
          const response = await this.env.fetch(`/api/threads/${this.threadId}/events?after=${after}`, {
            credentials: "same-origin",
          });
          const page = await response.json();
          const done = page.events.length === 0 || page.events[page.events.length - 1].seq >= page.last_seq;
          this.dispatch({ type: "reload_page", page, done });
          if (done) return;
          after = page.events[page.events.length - 1].seq;
        } catch (error) {
          await new Promise((resolve) => this.env.setTimeout(resolve, 1000));
        }
      }
    }

    post(path, body) {
      return this.env.fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": this.csrfToken },
        body: JSON.stringify(body),
      });
    }

    /** The user's turn, over HTTP: idempotent on clientId, so a retry never doubles it. */
    async sendMessage(text, clientId) {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        try {
          const response = await this.post(`/api/threads/${this.threadId}/messages`, { text, client_id: clientId });
          if (response.ok) return await response.json();
          const body = await response.json().catch(() => ({}));
          if (response.status < 500) throw Object.assign(new Error(body.detail || "refused"), { final: true });
        } catch (error) {
          if (error.final) throw error;
        }
        await new Promise((resolve) => this.env.setTimeout(resolve, backoff(attempt + 1, Math.random())));
      }
      throw new Error("The message could not be sent; try again.");
    }
  }

  return { ...machine, Client };
});
