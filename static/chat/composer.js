/* The composer: Enter sends, Shift+Enter adds a line. A message stays in the box until the
 * server confirms it, and whatever stands in its way is said beside the box, in words.
 */
(function (root) {
  "use strict";

  // Error frames from the socket, for a person (the code stays in data-code for developers).
  const PROBLEMS = {
    rate_limited: "Slow down — you can send again in a moment.",
    server_error: "The server had a problem. Retrying…",
    unauthenticated: "Signed out — sign in again.",
    forbidden: "This conversation is not available.",
    thread_not_found: "This conversation is not available.",
  };
  const REJECTED = "The connection turned down something this page sent. Reload the page if this keeps happening.";

  class Composer {
    constructor({ form, note, loginUrl, client, onPosted }) {
      Object.assign(this, { form, note, loginUrl, client, onPosted });
      this.textarea = form.querySelector("textarea");
      this.button = form.querySelector("button[type=submit]");
      this.clientId = null; // kept for this text until the server confirms it
      this.countdown = null;
      form.addEventListener("submit", (event) => this.submit(event));
      this.textarea.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) this.submit(event);
      });
      this.textarea.addEventListener("input", () => this.edited());
    }

    submit(event) {
      event.preventDefault();
      const text = this.textarea.value.trim();
      if (!text || this.textarea.readOnly) return;
      this.clientId = this.clientId || crypto.randomUUID();
      this.client.send(text, this.clientId);
    }

    /** New words are a new message: an unsent one is not retried under the new text. */
    edited() {
      this.clientId = null;
      this.client.dispatch({ type: "discard_message" });
    }

    fill(text) {
      this.textarea.value = text;
      this.edited();
      this.textarea.focus();
    }

    /** The machine's outbox changed: null once posted, else what holds the message back. */
    outbox(outbox, posted) {
      clearInterval(this.countdown);
      const sending = Boolean(outbox && outbox.state === "sending");
      this.textarea.readOnly = sending;
      this.button.disabled = sending;
      this.textarea.classList.toggle("unsent", Boolean(outbox && outbox.state !== "sending"));
      if (!outbox) {
        if (posted) {
          this.textarea.value = "";
          this.clientId = null;
          this.onPosted(posted);
        }
        return this.say("", "");
      }
      const words = {
        sending: ["Sending…", "info"],
        waiting: ["Not sent — retrying when the connection returns.", "warn"],
        refused: [`Not sent: ${outbox.detail || "the server refused it"}`, "error"],
      }[outbox.state];
      if (words) return this.say(words[0], words[1], outbox.state);
      if (outbox.state === "signed_out") return this.signedOut();
      if (outbox.state === "slowed") this.slowDown(outbox.retryInMs);
    }

    slowDown(retryInMs) {
      const retryAt = Date.now() + retryInMs;
      const tick = () => {
        const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
        this.say(`Slow down — you can send again in ${seconds} s. This message will go then.`, "warn", "slowed");
      };
      tick();
      this.countdown = setInterval(tick, 500);
    }

    signedOut() {
      this.say("Signed out — ", "error", "signed_out");
      const link = document.createElement("a");
      link.href = `${this.loginUrl}?next=${encodeURIComponent(location.pathname)}`;
      link.textContent = "sign in again";
      this.note.append(link);
    }

    /** An error frame from the socket. */
    problem(code, detail) {
      if (code === "unauthenticated") return this.signedOut();
      this.say(PROBLEMS[code] || REJECTED, "error", code);
      clearTimeout(this.fade);
      this.fade = setTimeout(() => this.note.dataset.code === code && this.say("", ""), 8000);
    }

    closed() {
      this.say("This conversation is not available here any more. Reload the page.", "error", "closed");
    }

    say(text, level, code) {
      this.note.textContent = text;
      this.note.hidden = !text;
      this.note.dataset.level = level || "";
      this.note.dataset.code = code || "";
    }
  }

  root.LedgerlineComposer = { Composer };
})(self);
