"""Search over a small bundled knowledge base about Ledgerline itself."""

import re

ARTICLES: dict[str, str] = {
    "ledger": "Every event is committed to a PostgreSQL ledger before it is sent. Each thread "
    "numbers its events 1, 2, 3 and so on, so a client can see a gap.",
    "ack": "Clients send cumulative acks: `ack {seq}` covers every event up to seq. The server "
    "batches them into one UPDATE per socket per flush interval.",
    "resume": "A client that reconnects passes `?after=<seq>` or sends `resume {after}`, and the "
    "server re-sends the ledger from the next seq. Events are rendered once, by seq.",
    "reconcile": "A Celery beat job sends pending events, redelivers unacknowledged ones after "
    "the ack deadline, and flags what stays undelivered, with a cause.",
    "fallback": "When the WebSocket keeps failing, the browser falls back to long-polling "
    "`GET /api/threads/<id>/events?after=N&wait=20` and acks over HTTP.",
    "drops": "channels_redis drops messages over its capacity and only logs it at INFO. "
    "Ledgerline counts those drops and redelivers the events at once.",
    "runs": "An agent run emits agent_started, agent_thinking, tool calls and then "
    "agent_completed or agent_failed. A stalled run is closed with agent_failed (timeout).",
    "burst": "Type `/burst N [size]` to emit N events quickly: a load test for delivery.",
    "tokens": "Programs authenticate with signed, expiring, revocable tokens from "
    "`manage.py issue_token USERNAME`; tokens never appear in logs.",
}
STOPWORDS = {"a", "an", "and", "does", "how", "is", "it", "of", "the", "to", "what", "why"}
MAX_RESULTS = 3


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z_]+", text.lower()) if w not in STOPWORDS and len(w) > 1}


def search(query: str) -> list[dict[str, str]]:
    """Articles ranked by shared words with the query (a title match counts double)."""
    wanted = _words(query)
    scored = []
    for title, body in ARTICLES.items():
        score = len(wanted & _words(body)) + 2 * (title in wanted or f"{title}s" in wanted)
        if score:
            scored.append((score, title, body))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [{"title": title, "text": body} for _, title, body in scored[:MAX_RESULTS]]
