"""Every refusal, in one place, against a real daphne over real sockets: the side door through
Django admin, a token signed with the key the repository once carried, text PostgreSQL cannot
store, and the deploy hardening (a policy with no inline script, login throttling) among them.
The neighbours carry the rest of the trust issue's attacks: test_revocation.py (open sockets
outlive nothing), test_fairness.py (a flood starves no one), test_quiet_logs.py (dying
sockets are no ERRORs), test_hostile_input.py (frames), test_burst.py (drops are summed).

Each case is a request a hostile or mistaken client makes, and the code it must get: a close
code after an `error` frame (4400/4401/4403), or the handshake's HTTP 403 for a foreign origin,
and for a client with neither an Origin nor a token (a cookie alone never opens a socket). The same
rules are also checked in-process, closer to the code, by:
- WebSocket: tests/delivery/test_consumer_bad_input.py (another user's or an unknown thread
  4403, no credentials and forged token 4401, bad `after` 4400, foreign origin and cookie without
  origin refused at the handshake, wildcard origin ignored, a hostile client never touching
  another user's connection); tests/chat/test_isolation.py (another user's thread socket).
- Tokens: tests/delivery/test_tokens.py (expired, revoked, tampered, inactive user).
- HTTP API: tests/delivery/test_api.py (anonymous and bad bearer 401, another user's thread 404,
  session POST without CSRF 403, only my threads listed); tests/chat/test_isolation.py.
- Console: tests/console/test_access.py (anonymous to login, non-staff and role-less staff 403,
  support cannot replay, verify, resolve alerts or reveal content, POST without CSRF 403, API 401).
- /metrics: tests/monitoring/test_metrics.py (loopback only without METRICS_TOKEN, bearer with it).
"""

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets
from django.core import signing
from django.test import Client

from delivery import emit
from delivery.models import AccessToken, Event
from delivery.wire.tokens import issue_token, revoke_token
from tests.console.conftest import staff
from tests.delivery.wsclient import db
from tests.factories import ThreadFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.process]

METRICS_TOKEN = "faults-metrics-token"
OLD_KEY = "ledgerline-development-only-secret-do-not-deploy"


def _people() -> dict:
    owner, intruder = UserFactory(), UserFactory()
    thread = ThreadFactory(owner=owner)
    said = emit(thread, "user_message", {"text": "my card is 4242"})
    revoked = issue_token(user=intruder)
    revoke_token(token_id=AccessToken.objects.get(user=intruder).id)
    sessions = {}
    for name, user in [("intruder", intruder), ("support", staff("faults-support", "support"))]:
        client = Client()
        client.force_login(user)
        sessions[name] = client.cookies["sessionid"].value
    real = issue_token(user=owner)
    token_id = signing.loads(real, salt="ledgerline.access-token")
    return {
        "thread": str(thread.pk),
        "event": said.pk,
        "owner": real,
        # Signed with the constant key the repository once carried, for a real token row.
        "forged": signing.dumps(
            token_id, key=OLD_KEY, salt="ledgerline.access-token", compress=False
        ),
        "intruder": issue_token(user=intruder),
        "expired": issue_token(user=intruder, ttl=-1),
        "revoked": revoked,
        "sessions": sessions,
    }


async def _ws_code(port: int, path: str, headers: dict | None = None) -> int:
    """The close code (or the handshake's HTTP status) a WebSocket connect gets."""
    try:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}{path}", additional_headers=headers, open_timeout=5
        ) as ws:
            while True:
                await asyncio.wait_for(ws.recv(), timeout=5)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


def _http_code(port: int, method: str, path: str, headers: dict, body: dict | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method,
        headers={"Content-Type": "application/json", **headers},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _http_cases(p: dict) -> list[tuple[str, str, str, dict, dict | None, int]]:
    events = f"/api/threads/{p['thread']}/events"
    cookie = {"Cookie": f"sessionid={p['sessions']['intruder']}"}
    support = {"Cookie": f"sessionid={p['sessions']['support']}"}
    replay = {"scope": "thread", "thread": p["thread"], "reason": "x"}
    return [
        ("HTTP another user's thread", "GET", events, _bearer(p["intruder"]), None, 404),
        ("HTTP ack on another user's thread", "POST", f"/api/threads/{p['thread']}/ack",
         _bearer(p["intruder"]), {"seq": 0}, 404),
        ("HTTP no credentials", "GET", events, {}, None, 401),
        ("HTTP forged bearer", "GET", events, _bearer("a.b.c"), None, 401),
        ("HTTP expired bearer", "GET", events, _bearer(p["expired"]), None, 401),
        ("HTTP revoked bearer", "GET", events, _bearer(p["revoked"]), None, 401),
        ("HTTP session POST without CSRF", "POST", "/api/threads", cookie, {}, 403),
        ("console page for a non-staff user", "GET", "/console/", cookie, None, 403),
        ("console thread page for a non-staff user", "GET", f"/console/threads/{p['thread']}/",
         cookie, None, 403),
        ("console anonymous API", "GET", "/console/api/overview", {}, None, 401),
        ("support tries an admin replay (API)", "POST", "/console/api/replays",
         {**support, "X-CSRFToken": "x"}, replay, 403),
        ("support opens a message in Django admin", "GET",
         f"/admin/delivery/event/{p['event']}/change/", support, None, 403),
        ("bearer signed with the old constant key", "GET", events, _bearer(p["forged"]), None, 401),
        ("message with a NUL byte", "POST", f"/api/threads/{p['thread']}/messages",
         _bearer(p["owner"]), {"text": "hi\x00", "client_id": "nul"}, 400),
        ("message with a lone surrogate", "POST", f"/api/threads/{p['thread']}/messages",
         _bearer(p["owner"]), {"text": "hi\ud800", "client_id": "surrogate"}, 400),
        ("/metrics without the bearer", "GET", "/metrics", {}, None, 401),
        ("/metrics with a wrong bearer", "GET", "/metrics", _bearer("nope"), None, 401),
    ]  # fmt: skip


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def test_every_hostile_request_is_refused_with_its_code(stack, figures):
    port = stack.start_daphne(METRICS_TOKEN=METRICS_TOKEN)
    p = await db(_people)()
    ws = f"/ws/threads/{p['thread']}/"
    cookie = {"Cookie": f"sessionid={p['sessions']['intruder']}"}
    ws_cases = [
        ("WS another user's thread", f"{ws}?token={p['intruder']}", None, 4403),
        ("WS unknown thread", f"/ws/threads/{'0' * 8}-0000-4000-8000-{'0' * 12}/"
         f"?token={p['intruder']}", None, 4403),
        ("WS no credentials from an allowed origin", ws, {"Origin": "http://127.0.0.1:8000"},
         4401),
        ("WS no credentials and no origin", ws, None, 403),
        ("WS session cookie without an origin", ws, cookie, 403),
        ("WS forged token", f"{ws}?token=a.b.c", None, 4401),
        ("WS expired token", f"{ws}?token={p['expired']}", None, 4401),
        ("WS revoked token", f"{ws}?token={p['revoked']}", None, 4401),
        ("WS bad after", f"{ws}?token={p['intruder']}&after=abc", None, 4400),
        ("WS cross-origin handshake", ws, {**cookie, "Origin": "https://evil.example"}, 403),
    ]  # fmt: skip
    seen = {}
    for name, path, headers, expected in ws_cases:
        seen[name] = (await _ws_code(port, path, headers), expected)
    for name, method, path, headers, body, expected in _http_cases(p):
        code = await asyncio.to_thread(_http_code, port, method, path, headers, body)
        seen[name] = (code, expected)
    assert (
        await asyncio.to_thread(_http_code, port, "GET", "/metrics", _bearer(METRICS_TOKEN)) == 200
    )
    figures(
        scenario="9. security", events=0, threads=1, lost=0,
        injected=f"{len(seen)} hostile requests over WebSocket, HTTP API, console and /metrics",
        notes=f"{sum(got == want for got, want in seen.values())} of {len(seen)} refused "
        "with their documented code",
    )  # fmt: skip
    wrong = {name: got for name, (got, want) in seen.items() if got != want}
    assert not wrong, wrong
    assert await db(Event.objects.filter(type="user_message").count)() == 1  # nothing posted


async def test_deploy_hardening_holds_on_a_real_daphne(stack):
    """Pages carry a policy with no inline script, and guessing a password locks the account
    for that address at the fifth failure, over real HTTP."""
    port = stack.start_daphne()
    await db(UserFactory)(username="victim", password="the-right-one")

    policy, answers = await asyncio.to_thread(_guess_passwords, port, "victim", 6)

    script = next(
        p for p in policy.split(";") if p.strip().startswith(("script-src", "default-src"))
    )
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    assert answers == [200, 200, 200, 200, 429, 429]


def _guess_passwords(port: int, username: str, tries: int) -> tuple[str, list[int]]:
    """The login page's Content-Security-Policy, and the answer to each wrong password."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    url = f"http://127.0.0.1:{port}/accounts/login/"
    with opener.open(url, timeout=10) as page:
        policy = page.headers["Content-Security-Policy"]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
    answers = []
    for n in range(tries):
        form = {"csrfmiddlewaretoken": token.group(1), "username": username,
                "password": f"guess-{n}"}  # fmt: skip
        request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(),
                                         headers={"Referer": url})  # fmt: skip
        try:
            with opener.open(request, timeout=10) as answer:
                answers.append(answer.status)
        except urllib.error.HTTPError as error:
            answers.append(error.code)
    return policy, answers
