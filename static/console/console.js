// Ledgerline console: a panel marked data-poll-while-visible skips its poll while the tab is
// hidden. An hx-trigger filter ("every 5s [document.visibilityState === 'visible']") would do
// the same, but htmx compiles filters with Function(), which the Content-Security-Policy
// refuses; a skipped poll is rescheduled by htmx as usual.
document.addEventListener("htmx:confirm", (event) => {
  const panel = event.target;
  if (panel.hasAttribute("data-poll-while-visible") && document.visibilityState !== "visible") {
    event.preventDefault();
  }
});
