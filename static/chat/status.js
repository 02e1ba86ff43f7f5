/* The connection pill: what the client is doing, in words, and never a transport that fails.
 * Offline counts down to the next attempt. Changes are announced once, not every second.
 */
(function (root) {
  "use strict";

  const WORDS = {
    connecting: "Connecting…",
    live: "Live",
    catching_up: "Catching up…",
    reconnecting: "Reconnecting…",
    polling: "Polling",
    signed_out: "Signed out",
    closed: "Disconnected",
  };
  const HINTS = {
    live: "Connected: new messages appear as they are written.",
    catching_up: "Bringing in what was said while this page was away.",
    polling: "The live connection is blocked here; updates arrive through a slower fallback.",
    offline: "No connection to the server. Nothing you see is lost; it will catch up.",
  };

  // What a screen reader hears: only when the connection changes side, never each countdown tick.
  const SIDES = { live: "up", catching_up: "up", polling: "up", reconnecting: "down", offline: "down" };
  const SAID = {
    up: "Connected.",
    down: "Connection lost. Retrying.",
    signed_out: "Signed out. Sign in again to continue.",
    closed: "Disconnected.",
  };

  class StatusPill {
    constructor(pill, announce) {
      this.pill = pill;
      this.text = pill.querySelector(".conn-text");
      this.announce = announce;
      this.countdown = null;
      this.side = "up"; // the page opens as connected: no need to say so
      this.log = [];
    }

    show(status, retryInMs) {
      clearInterval(this.countdown);
      this.pill.dataset.status = status;
      this.pill.title = HINTS[status] || "";
      this.log.push(status);
      const side = SIDES[status] || status;
      if (side !== this.side && SAID[side]) this.announce(SAID[side]);
      if (status !== "connecting") this.side = side;
      if (status !== "offline") return void (this.text.textContent = WORDS[status] || status);
      const retryAt = Date.now() + (retryInMs || 0);
      const tick = () => {
        const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
        this.text.textContent = seconds > 0 ? `Offline — retrying in ${seconds} s` : "Offline — retrying now";
      };
      tick();
      this.countdown = setInterval(tick, 250);
    }
  }

  root.LedgerlineStatus = { StatusPill, WORDS };
})(self);
