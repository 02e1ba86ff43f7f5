/* The chat page: wires the browser client (delivery/client.js) to the transcript (render.js),
 * the connection pill (status.js), the composer (composer.js) and earlier history (history.js).
 */
(function () {
  "use strict";
  const root = document.getElementById("conversation");
  if (!root || !window.Ledgerline) return;

  const { Renderer, upgrade, el } = window.LedgerlineRender;
  const transcript = document.getElementById("transcript");
  const scroller = document.getElementById("scroller");
  const announcer = document.getElementById("announcer");
  const layout = document.querySelector(".chat-layout");
  const renderer = new Renderer(transcript);

  function announce(text) {
    announcer.textContent = "";
    setTimeout(() => (announcer.textContent = text), 50); // a fresh node's text is read again
  }

  // Stay at the newest message while the reader is there; leave them be when they scrolled up.
  let stick = true;
  scroller.addEventListener("scroll", () => {
    stick = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  });
  let scrollPending = false;
  function followNewest() {
    if (!stick || scrollPending) return;
    scrollPending = true;
    requestAnimationFrame(() => {
      scrollPending = false;
      scroller.scrollTop = scroller.scrollHeight;
    });
  }

  /** A new thread takes its first message as its name, in the header and the sidebar. */
  function nameThread(text) {
    const heading = document.getElementById("thread-heading");
    if (!heading || !heading.hasAttribute("data-untitled") || !text) return;
    heading.removeAttribute("data-untitled");
    heading.textContent = text.length > 80 ? text.slice(0, 79) + "…" : text;
    document.title = `${heading.textContent} · Ledgerline`;
    const link = document.querySelector(".thread-link.active .thread-title");
    if (link) link.textContent = text.length > 42 ? text.slice(0, 41) + "…" : text;
  }

  /** The user's own message shows from the moment it is confirmed until its event renders. */
  function showPending(posted) {
    if (posted.seq <= client.state.rendered) return;
    const li = el("li", "msg user pending");
    li.dataset.clientId = posted.clientId;
    li.append(el("div", "bubble", posted.text), el("div", "meta", "Sent"));
    transcript.append(li);
    followNewest();
  }

  function rendered(frame) {
    const p = frame.payload || {};
    if (frame.event === "user_message") {
      transcript.querySelectorAll("li.pending").forEach((li) => li.dataset.clientId === p.client_id && li.remove());
      nameThread(p.text || "");
    }
    if (frame.event === "agent_completed") announce(`The agent answered: ${p.answer || ""}`);
    if (frame.event === "agent_failed") announce("The agent's run failed.");
  }

  const view = {
    render(frame) {
      transcript.querySelector(".empty-thread")?.remove();
      const pending = [...transcript.querySelectorAll("li.pending")];
      renderer.render(frame);
      transcript.append(...pending); // what is still being sent stays last
      rendered(frame);
      followNewest();
    },
    status(status, retryInMs) {
      pill.show(status, retryInMs);
      if (status === "signed_out") composer.signedOut();
      if (status === "closed") composer.closed();
    },
    problem: (code, detail) => composer.problem(code, detail),
    pruned() {
      transcript.append(el("li", "pruned-note", "Some older messages are no longer available."));
    },
    reset: () => transcript.replaceChildren(),
    historyEdge: (page) => history.setEdge({ ...page, oldest: page.events.length ? page.events[0].seq : undefined }),
    outbox: (outbox, posted) => composer.outbox(outbox, posted),
  };

  const options = window.LEDGERLINE_CLIENT_OPTIONS || {}; // tuning for tests, e.g. {probeDelayMs}
  const client = new window.Ledgerline.Client({
    threadId: root.dataset.thread,
    renderedSeq: Number(root.dataset.renderedSeq || 0),
    csrfToken: root.dataset.csrf,
    silenceMs: Number(root.dataset.silenceMs) || undefined,
    view,
    ...options,
  });
  const pill = new window.LedgerlineStatus.StatusPill(document.getElementById("conn-status"), announce);
  const composer = new window.LedgerlineComposer.Composer({
    form: document.getElementById("composer"),
    note: document.getElementById("composer-note"),
    loginUrl: root.dataset.loginUrl,
    client,
    onPosted: showPending,
  });
  const history = new window.LedgerlineHistory.History({
    scroller,
    transcript,
    edge: document.getElementById("history-edge"),
    client,
    firstSeq: Number(root.dataset.firstSeq || 0),
  });
  window.ledgerlineChat = { client, view, history, statusLog: pill.log };

  document.querySelectorAll(".suggestions .chip").forEach((chip) =>
    chip.addEventListener("click", () => composer.fill(chip.dataset.text)),
  );
  // On a narrow screen the conversations slide over the page: Close, Escape or a tap beside shut them.
  const toggle = document.getElementById("nav-toggle");
  function showNav(open) {
    layout.classList.toggle("nav-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    (open ? document.getElementById("nav-close") : toggle).focus();
  }
  toggle.addEventListener("click", () => showNav(!layout.classList.contains("nav-open")));
  document.getElementById("nav-close").addEventListener("click", () => showNav(false));
  root.addEventListener("click", (event) => layout.classList.contains("nav-open") && event.target !== toggle && showNav(false));
  document.addEventListener("keydown", (event) => event.key === "Escape" && layout.classList.contains("nav-open") && showNav(false));

  upgrade(transcript);
  scroller.scrollTop = scroller.scrollHeight;
  client.start();
})();
