"""Round trip against a running Ledgerline: log in, open a thread, send a message over the
WebSocket, get the ledger's event for it back, and acknowledge it.

    uv run python scripts/roundtrip.py     # demo user; password from .run/demo-credentials.txt
    uv run python scripts/roundtrip.py --url http://127.0.0.1:8001 --username demo --password ...

Exit status 0 means the event came back over the socket in order and the ack was accepted.
"""

import argparse
import asyncio
import http.cookiejar
import json
import sys
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import websockets

CREDENTIALS = Path(__file__).resolve().parents[1] / ".run" / "demo-credentials.txt"


def demo_password(username: str) -> str:
    """The latest password `seed_demo` recorded for `username`."""
    lines = CREDENTIALS.read_text().splitlines() if CREDENTIALS.exists() else []
    found = [line.split()[1] for line in lines if line.split()[:1] == [username]]
    if not found:
        sys.exit(f"no password for {username!r} in {CREDENTIALS}; pass --password")
    return found[-1]


class Session:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "") or ""

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None) -> bytes:
        headers = {"Referer": self.base + "/", **(headers or {})}
        if data is not None:
            headers["X-CSRFToken"] = self.cookie("csrftoken")
        if not self.base.startswith(("http://", "https://")):
            sys.exit("--url must be an http(s) URL")
        request = urllib.request.Request(self.base + path, data=data, headers=headers)  # noqa: S310
        with self.opener.open(request, timeout=10) as response:
            return response.read()

    def login(self, username: str, password: str) -> None:
        self.request("/accounts/login/")
        form = {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": self.cookie("csrftoken"),
        }
        self.request("/accounts/login/", urllib.parse.urlencode(form).encode())
        if not self.cookie("sessionid"):
            sys.exit("login failed: check the username and password")

    def post_json(self, path: str, body: dict) -> dict:
        raw = self.request(path, json.dumps(body).encode(), {"Content-Type": "application/json"})
        return json.loads(raw)


async def roundtrip(session: Session) -> dict:
    thread = session.post_json("/api/threads", {"title": "roundtrip check"})
    ws_url = session.base.replace("http", "ws", 1) + f"/ws/threads/{thread['id']}/?after=0"
    headers = {"Cookie": f"sessionid={session.cookie('sessionid')}"}
    async with websockets.connect(ws_url, origin=session.base, additional_headers=headers) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
        client_id = str(uuid.uuid4())
        message = {"type": "message", "text": "hello ledger", "client_id": client_id}
        await ws.send(json.dumps(message))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            if frame["type"] == "event" and frame["payload"].get("client_id") == client_id:
                break
            if frame["type"] == "error":
                raise RuntimeError(frame)
        await ws.send(json.dumps({"type": "ack", "seq": frame["seq"]}))
        await asyncio.sleep(0.5)  # the ack flush interval
    return {"thread": thread["id"], "seq": frame["seq"], "event": frame["event"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password")
    args = parser.parse_args()
    session = Session(args.url)
    session.login(args.username, args.password or demo_password(args.username))
    result = asyncio.run(roundtrip(session))
    print(f"ok: {result['event']} #{result['seq']} came back on thread {result['thread']}")


if __name__ == "__main__":
    main()
