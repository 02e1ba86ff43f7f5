/* The chat page: renders ledger events into the transcript (the same markup as
 * templates/chat/chat.html) and wires the composer. The protocol lives in delivery/client.js. */
(function () {
  "use strict";
  const root = document.getElementById("conversation");
  if (!root || !window.Ledgerline) return;

  const transcript = document.getElementById("transcript");
  const statusPill = document.getElementById("conn-status");
  const notices = document.getElementById("notices");
  const STATUS_TEXT = {
    connecting: "Connecting",
    live: "Live",
    reconnecting: "Reconnecting…",
    polling: "Polling (fallback)",
    resync: "Resyncing",
    closed: "Disconnected",
  };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function resultText(payload) {
    if (payload.ok === false) return String(payload.error || "failed");
    const result = payload.result;
    if (typeof result === "string") return result;
    if (result && !Array.isArray(result) && typeof result === "object" && "text" in result) return String(result.text);
    if (Array.isArray(result)) {
      const titles = result.map((item) => item.title || "");
      return titles.length ? "Found: " + titles.join(", ") : "No matching article";
    }
    return JSON.stringify(result);
  }

  let scrollPending = false;
  function scrollToEnd() {
    if (scrollPending) return;
    scrollPending = true;
    requestAnimationFrame(() => {
      scrollPending = false;
      window.scrollTo(0, document.body.scrollHeight);
    });
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
  }

  function append(node) {
    const stick = nearBottom();
    const empty = transcript.querySelector(".empty-thread");
    if (empty) empty.remove();
    transcript.appendChild(node);
    if (stick) scrollToEnd();
  }

  function runNode(runId, seq) {
    const existing = transcript.querySelector(`li.run[data-run="${CSS.escape(runId)}"]`);
    if (existing) return existing;
    const li = el("li", "run");
    li.dataset.run = runId;
    li.dataset.seq = seq;
    li.innerHTML =
      '<div class="avatar" aria-hidden="true">L</div><div class="run-body">' +
      '<div class="run-status"><span class="spinner" aria-hidden="true"></span><span class="thinking">Starting…</span></div>' +
      '<div class="tools"></div><div class="burst" hidden><div class="burst-head">Burst <span class="burst-count">0</span>' +
      ' / <span class="burst-of">0</span> events</div><div class="burst-grid"></div></div>' +
      '<div class="answer" hidden></div><div class="failure" hidden></div></div>';
    append(li);
    return li;
  }

  function toolCard(payload, seq) {
    const card = el("div", "tool-card executing");
    card.dataset.call = payload.call_id || "";
    card.dataset.seq = seq;
    const head = el("div", "tool-head");
    head.append(el("span", "tool-name", payload.tool || "tool"), el("span", "tool-state", "running"));
    card.append(head);
    if (payload.input) card.append(el("code", "tool-input", payload.input));
    card.append(el("div", "tool-result", ""));
    return card;
  }

  function finish(run, failed, text) {
    run.classList.add("done");
    run.querySelectorAll(".tool-card.executing").forEach((card) => {
      card.classList.replace("executing", "interrupted");
      card.querySelector(".tool-state").textContent = "interrupted";
    });
    run.classList.toggle("failed", failed);
    run.querySelector(".thinking").textContent = failed ? "Run failed" : "Done";
    const box = run.querySelector(failed ? ".failure" : ".answer");
    box.textContent = text;
    box.hidden = false;
  }

  /** A new thread takes its first message as its name, in the header and the sidebar. */
  function nameThread(text) {
    const heading = document.getElementById("thread-heading");
    if (!heading || !heading.hasAttribute("data-untitled") || !text) return;
    heading.removeAttribute("data-untitled");
    heading.textContent = text.length > 80 ? text.slice(0, 79) + "…" : text;
    const link = document.querySelector(".thread-link.active .thread-title");
    if (link) link.textContent = text.length > 42 ? text.slice(0, 41) + "…" : text;
  }

  const RUN_EVENTS = {
    agent_started() {},
    agent_thinking(run, p) {
      if (!run.classList.contains("done")) run.querySelector(".thinking").textContent = p.text || "Thinking…";
    },
    tool_executing(run, p, seq) {
      run.querySelector(".tools").append(toolCard(p, seq));
    },
    tool_completed(run, p, seq) {
      const card = run.querySelector(`.tool-card[data-call="${CSS.escape(p.call_id || "")}"]`);
      if (!card) return;
      card.classList.replace("executing", p.ok === false ? "errored" : "completed");
      card.dataset.doneSeq = seq;
      card.querySelector(".tool-state").textContent = p.ok === false ? "error" : "done";
      card.querySelector(".tool-result").textContent = resultText(p);
    },
    burst(run, p, seq) {
      const box = run.querySelector(".burst");
      box.hidden = false;
      const cell = el("i", "burst-item");
      cell.dataset.seq = seq;
      cell.title = `#${p.i}`;
      box.querySelector(".burst-grid").append(cell);
      const count = box.querySelector(".burst-count");
      count.textContent = Number(count.textContent) + 1;
      box.querySelector(".burst-of").textContent = p.of;
    },
    agent_completed(run, p) {
      finish(run, false, p.answer || "");
    },
    agent_failed(run, p) {
      finish(run, true, `The run failed (${p.reason}): ${p.detail || ""}`);
    },
  };

  const view = {
    render(frame) {
      const p = frame.payload || {};
      if (frame.event === "user_message") {
        const li = el("li", "msg user");
        li.dataset.seq = frame.seq;
        li.append(el("div", "bubble", p.text || ""));
        nameThread(p.text || "");
        return append(li);
      }
      if (typeof p.run_id === "string" && RUN_EVENTS[frame.event]) {
        const run = runNode(p.run_id, frame.seq);
        RUN_EVENTS[frame.event](run, p, frame.seq);
        return scrollToEnd();
      }
      const li = el("li", "msg other");
      li.dataset.seq = frame.seq;
      li.append(el("code", "", frame.event), document.createTextNode(" " + JSON.stringify(p).slice(0, 300)));
      append(li);
    },
    status(mode) {
      statusPill.dataset.status = mode;
      statusPill.textContent = STATUS_TEXT[mode] || mode;
      chat.statusLog.push(mode);
    },
    notice(level, text) {
      const note = el("div", `notice ${level}`, text);
      const close = el("button", "link dismiss", "×");
      close.type = "button";
      close.addEventListener("click", () => note.remove());
      note.append(close);
      notices.append(note);
      if (level !== "error") setTimeout(() => note.remove(), 6000);
    },
    reset() {
      transcript.replaceChildren();
    },
  };

  const client = new window.Ledgerline.Client({
    threadId: root.dataset.thread,
    renderedSeq: Number(root.dataset.renderedSeq || 0),
    csrfToken: root.dataset.csrf,
    view,
    ...(window.LEDGERLINE_CLIENT_OPTIONS || {}), // tuning, e.g. {probeDelayMs}
  });
  const chat = { client, view, statusLog: [] };
  window.ledgerlineChat = chat;

  const composer = document.getElementById("composer");
  const textarea = composer.querySelector("textarea");
  const button = composer.querySelector("button[type=submit]");
  let clientId = null; // kept until the server confirms, so a resend reuses it
  let sending = false;

  async function submit(event) {
    event.preventDefault();
    const text = textarea.value.trim();
    if (sending || !text) return;
    sending = true;
    button.disabled = true;
    clientId = clientId || crypto.randomUUID();
    try {
      await client.sendMessage(text, clientId);
      textarea.value = "";
      clientId = null;
    } catch (error) {
      view.notice("error", error.message);
    } finally {
      sending = false;
      button.disabled = false;
      textarea.focus();
    }
  }

  composer.addEventListener("submit", submit);
  textarea.addEventListener("input", () => {
    clientId = null;
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) submit(event);
  });
  document.querySelectorAll(".suggestions .chip").forEach((chip) =>
    chip.addEventListener("click", () => {
      textarea.value = chip.dataset.text;
      clientId = null;
      textarea.focus();
    }),
  );

  client.start();
  window.scrollTo(0, document.body.scrollHeight);
})();
