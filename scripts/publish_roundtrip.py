"""A service's round trip over plain HTTP, as any language would make it: publish a batch of
events with an API key, retry it with the same Idempotency-Key, and read it back, newest
first, with `?before=`. Only Python's standard library; each call is printed as curl would
send it.

    uv run python scripts/publish_roundtrip.py            # beside `make run`: makes its key
    uv run python scripts/publish_roundtrip.py --url http://127.0.0.1:8001 \\
        --key llk_... --token <a user's token>            # against any Ledgerline

Without --key it runs `manage.py create_api_key` (publish and read) and without --token
`manage.py issue_token demo`, through `config.embedded exec` so they reach `make run`'s stack.
A key owns no thread, so the user's token opens the thread the service publishes to.
Exit status 0 means the batch got contiguous seqs, the retry answered the same ones, and the
history read returned every event as published.
"""

import argparse
import json
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

MANAGE = [sys.executable, "-m", "config.embedded", "exec", "--", sys.executable, "manage.py"]


def call(method: str, url: str, credential: str, body: dict | None = None, **headers: str):
    """One HTTP call: the answer's status and JSON body."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Authorization": f"Bearer {credential}", **headers}
    if data is not None:
        sent["Content-Type"] = "application/json"
    shown = " ".join(f"-H {shlex.quote(f'{k}: {v[:12]}…' if k == 'Authorization' else f'{k}: {v}')}"
                     for k, v in sent.items())  # fmt: skip
    print(f"curl -X {method} {shown} {url}" + (" -d '…'" if data else ""))
    request = urllib.request.Request(url, data=data, method=method, headers=sent)  # noqa: S310 (http(s) only: main checks)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    print(f"  → {status}")
    return status, json.loads(text or b"{}")


def manage(*args: str) -> str:
    """The last line a management command printed (the key, the token)."""
    done = subprocess.run([*MANAGE, *args], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"manage.py {args[0]} failed:\n{done.stderr or done.stdout}")
    return done.stdout.strip().splitlines()[-1]


def expect(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"  ok: {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", help="an API key with the publish and read scopes")
    parser.add_argument("--token", help="a user's token, to open the thread")
    parser.add_argument("--events", type=int, default=5)
    options = parser.parse_args()
    if not 1 <= options.events <= 500:
        parser.error("--events must be from 1 to 500")
    if not options.url.startswith(("http://", "https://")):
        parser.error("--url must be an http:// or https:// address")
    base = options.url.rstrip("/")
    key = options.key or manage(
        "create_api_key", f"roundtrip-{uuid.uuid4().hex[:8]}", "--scope", "publish",
        "--scope", "read", "--per-minute", "60",
    )  # fmt: skip
    token = options.token or manage("issue_token", "demo", "--ttl", "600", "--label", "roundtrip")

    status, thread = call("POST", f"{base}/api/threads", token, {"title": "publish round trip"})
    expect(status == 201, "the user opened a thread")
    events = [
        {"type": "step", "payload": {"n": n, "at": time.time()}} for n in range(options.events)
    ]
    batch_url, idempotency = f"{base}/api/v1/threads/{thread['id']}/events/batch", str(uuid.uuid4())

    status, first = call(
        "POST", batch_url, key, {"events": events}, **{"Idempotency-Key": idempotency}
    )
    seqs = [e["seq"] for e in first.get("events", [])]
    contiguous = bool(seqs) and seqs == list(range(seqs[0], seqs[0] + len(events)))
    expect(status == 201 and contiguous, f"the batch was published with seqs {seqs}")
    status, again = call(
        "POST", batch_url, key, {"events": events}, **{"Idempotency-Key": idempotency}
    )
    expect(status == 200 and [e["seq"] for e in again["events"]] == seqs,
           "the retry with the same Idempotency-Key answered the same seqs")  # fmt: skip

    history = f"{base}/api/threads/{thread['id']}/events?before={seqs[-1] + 1}&limit={len(seqs)}"
    status, page = call("GET", history, key)
    read = [(e["seq"], e["payload"]) for e in page.get("events", [])]
    published = [(seq, event["payload"]) for seq, event in zip(seqs, events, strict=True)]
    expect(status == 200 and read == published[::-1], "history read it back, newest first")
    print("round trip complete")


if __name__ == "__main__":
    main()
