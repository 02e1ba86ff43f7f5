/* Ledgerline events into the chat transcript: the same markup chat/transcript.py folds on the
 * server (templates/chat/chat.html), for live events and for history pages alike. Answers go
 * through the page's one markdown renderer (markdown.js); times are shown in local time.
 */
(function (root) {
  "use strict";

  // Why a run failed, in words for the person who asked (chat/transcript.py FAILURES).
  const FAILURES = {
    error: "Something went wrong",
    timeout: "The agent stopped responding",
    not_started: "The agent could not start",
    burst_too_large: "The agent refused this request",
    invalid_command: "The agent did not understand this command",
  };
  const TOOL_LABELS = { running: "running", done: "done", failed: "failed", stopped: "stopped" };
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const dated = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

  function failureText(reason, detail) {
    const said = FAILURES[reason] || "The run failed";
    return detail ? `${said}: ${detail}` : `${said}.`;
  }

  function resultText(payload) {
    if (payload.ok === false) return String(payload.error || "failed");
    const result = payload.result;
    if (typeof result === "string") return result;
    if (result && !Array.isArray(result) && typeof result === "object" && "text" in result) return String(result.text);
    if (Array.isArray(result)) {
      const titles = result.map((item) => (item && item.title) || "");
      return titles.length ? "Found: " + titles.join(", ") : "No matching article";
    }
    return JSON.stringify(result);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** A <time> in the reader's own clock; with the date when it is not today. */
  function formatTime(node) {
    const at = new Date(node.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) return;
    const today = at.toDateString() === new Date().toDateString();
    node.textContent = (today ? clock : dated).format(at);
    node.title = at.toLocaleString();
  }

  function meta(ts) {
    const box = el("div", "meta");
    const time = el("time");
    time.setAttribute("datetime", ts || new Date().toISOString());
    formatTime(time);
    box.append(time);
    return box;
  }

  function setToolState(card, state) {
    card.classList.remove(...Object.keys(TOOL_LABELS));
    card.classList.add(state);
    card.querySelector(".tool-state").textContent = TOOL_LABELS[state];
  }

  function toolCard(callId, seq) {
    const card = el("div", "tool-card running");
    card.dataset.call = callId;
    card.dataset.seq = seq;
    const head = el("div", "tool-head");
    head.append(el("span", "tool-name", "tool"), el("span", "tool-state", "running"));
    card.append(head, el("code", "tool-input"), el("div", "tool-result", ""));
    return card;
  }

  /** The card of a call, made on first sight: a history page can begin mid-run. */
  function cardFor(run, p, seq) {
    const callId = String(p.call_id || "");
    const found = [...run.querySelectorAll(".tool-card")].find((card) => card.dataset.call === callId);
    if (found) return found;
    const card = toolCard(callId, seq);
    run.querySelector(".tools").append(card);
    return card;
  }

  function finish(run, failed, text) {
    run.classList.add("done");
    run.classList.toggle("failed", failed);
    run.querySelectorAll(".tool-card.running").forEach((card) => setToolState(card, failed ? "failed" : "stopped"));
    run.querySelector(".thinking").textContent = failed ? "Run failed" : "Done";
    const box = run.querySelector(failed ? ".failure" : ".answer");
    if (failed) box.textContent = text;
    else root.LedgerlineMarkdown.renderInto(box, text);
    box.hidden = false;
  }

  const RUN_EVENTS = {
    agent_started() {},
    agent_thinking(run, p) {
      if (!run.classList.contains("done")) run.querySelector(".thinking").textContent = p.text || "Thinking…";
    },
    tool_executing(run, p, seq) {
      const card = cardFor(run, p, seq);
      card.dataset.seq = seq;
      card.querySelector(".tool-name").textContent = p.tool || "tool";
      card.querySelector(".tool-input").textContent = p.input || "";
    },
    tool_completed(run, p, seq) {
      const card = cardFor(run, p, seq);
      if (p.tool) card.querySelector(".tool-name").textContent = p.tool;
      card.dataset.doneSeq = seq;
      setToolState(card, p.ok === false ? "failed" : "done");
      card.querySelector(".tool-result").textContent = resultText(p);
    },
    burst(run, p, seq) {
      const box = run.querySelector(".burst");
      box.hidden = false;
      const cell = el("i", "burst-item");
      cell.dataset.seq = seq;
      box.querySelector(".burst-grid").append(cell);
      const count = box.querySelector(".burst-count");
      count.textContent = Number(count.textContent) + 1;
      box.querySelector(".burst-of").textContent = p.of;
    },
    agent_completed(run, p) {
      finish(run, false, p.answer || "");
    },
    agent_failed(run, p) {
      finish(run, true, failureText(p.reason, p.detail || ""));
    },
  };

  const RUN_MARKUP =
    '<div class="avatar" aria-hidden="true">L</div><div class="run-body">' +
    '<div class="run-status"><span class="spinner" aria-hidden="true"></span><span class="thinking">Starting…</span></div>' +
    '<div class="tools"></div><div class="burst" hidden><div class="burst-head">Burst <span class="burst-count">0</span>' +
    ' / <span class="burst-of">0</span> events</div><div class="burst-grid"></div></div>' +
    '<div class="answer" hidden></div><div class="failure" hidden></div></div>';

  /** Renders events into `list` (an <ol>); runs already on the page in `page` are reused. */
  class Renderer {
    constructor(list, page) {
      this.list = list;
      this.page = page || list;
    }

    findRun(runId) {
      const selector = `li.run[data-run="${CSS.escape(runId)}"]`;
      return this.list.querySelector(selector) || this.page.querySelector(selector);
    }

    runNode(runId, frame) {
      const existing = this.findRun(runId);
      if (existing) return existing;
      const li = el("li", "run");
      li.dataset.run = runId;
      li.dataset.seq = frame.seq;
      li.innerHTML = RUN_MARKUP; // constant markup: nothing of the event's goes in as HTML
      li.querySelector(".run-body").append(meta(frame.ts));
      this.list.append(li);
      return li;
    }

    /** One event; returns the node it went into. */
    render(frame) {
      const p = frame.payload || {};
      if (frame.event === "user_message") {
        const li = el("li", "msg user");
        li.dataset.seq = frame.seq;
        li.append(el("div", "bubble", p.text || ""), meta(frame.ts));
        this.list.append(li);
        return li;
      }
      if (typeof p.run_id === "string" && RUN_EVENTS[frame.event]) {
        const run = this.runNode(p.run_id, frame);
        RUN_EVENTS[frame.event](run, p, frame.seq);
        return run;
      }
      const li = el("li", "msg other");
      li.dataset.seq = frame.seq;
      li.append(el("code", "", frame.event), document.createTextNode(" " + JSON.stringify(p).slice(0, 300)));
      this.list.append(li);
      return li;
    }
  }

  /** What the server wrote into the page: answers to markdown, times to the local clock. */
  function upgrade(scope) {
    scope.querySelectorAll("[data-markdown]").forEach((node) => root.LedgerlineMarkdown.renderInto(node, node.textContent));
    scope.querySelectorAll("time[datetime]").forEach(formatTime);
  }

  root.LedgerlineRender = { Renderer, upgrade, failureText, resultText, el, meta };
})(self);
