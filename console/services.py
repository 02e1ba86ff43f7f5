"""Console actions: replay dry runs, requests (paced in waves when large) and cancels, audited
reveals, alert state changes, and a verification run with progress. The pages' buttons and the
JSON API call these same functions; they raise console.exceptions errors only, which each
surface renders its own way."""

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial

from django.contrib.auth.models import User
from django.db import transaction

from console import pacing, scopes
from console.exceptions import BadBody, NotFound, ReplayRefused, RevealRefused
from console.models import ContentReveal, PacedReplay
from console.recovery import ScopedPlan
from console.tasks import run_verification_checks, send_paced_wave
from delivery.exceptions import ReplayError
from delivery.ledger import audit
from delivery.models import ApiKey, Event, KeyScope, ReplayRequest
from delivery.repair import replay
from delivery.text import storable, unstorable
from delivery.wire import apikeys
from monitoring.alerts import acknowledge_alert, resolve
from monitoring.models import Alert, VerificationRun

CONSOLE_TRIGGER = "console"


@contextmanager
def _replay_refusals() -> Iterator[None]:
    """delivery refuses a replay plan or request with its ReplayError; the console's surfaces
    know only console errors, so it is re-raised as one, message and code unchanged."""
    try:
        yield
    except ReplayError as exc:
        refused = ReplayRefused(str(exc))
        refused.code = exc.code
        raise refused from exc


def plan_replay(*, scope: Mapping[str, str]) -> ScopedPlan:
    """The dry run: exactly what a replay of `scope` (form or body fields) would send, and who
    is online to get it now. Writes nothing."""
    with _replay_refusals():
        return scopes.plan_from(scope)


def request_replay(
    *, scope: Mapping[str, str], actor: User, reason: str, ticket: str = ""
) -> ReplayRequest | PacedReplay:
    """Re-plan `scope` on the server and request that replay in `actor`'s name: delivery audits
    it and queues the job. A plan of more than pacing.WAVE_EVENTS events is paced: it goes out
    in waves, each its own audited replay. Refused without a reason, with nothing to replay, or
    with acknowledged events unless `scope` confirms them (`acked_ok`): the client has those."""
    with _replay_refusals():
        scoped = scopes.plan_from(scope)
        if not scoped.plan.events:
            raise ReplayRefused("nothing to replay: the plan is empty")
        if scoped.includes_acked and not _confirmed(scope.get("acked_ok")):
            refused = ReplayRefused(
                "the plan includes acknowledged events, which the client already has; "
                "confirm with acked_ok to send them again"
            )
            refused.code = "acked_unconfirmed"
            raise refused
        if len(scoped.plan.events) <= pacing.WAVE_EVENTS:
            return replay.request_replay(
                plan=scoped.plan, actor=actor, reason=reason, ticket=ticket
            )
        with transaction.atomic():
            paced = pacing.request_paced(scoped=scoped, actor=actor, reason=reason, ticket=ticket)
            transaction.on_commit(partial(send_paced_wave.delay, paced.pk, 0))
        return paced


def _confirmed(value: object) -> bool:
    return value is True or str(value).strip().lower() in {"1", "true", "yes", "on"}


def cancel_replay(*, replay_id: int, actor: User) -> ReplayRequest:
    """Ask a queued or running replay to stop before its next batch, in `actor`'s name."""
    if not ReplayRequest.objects.filter(pk=replay_id).exists():
        raise NotFound("no such replay")
    return replay.cancel_replay(replay_id=replay_id, actor=actor)


def cancel_paced(*, paced_id: int, actor: User) -> PacedReplay:
    """Send no further wave of a paced replay, and stop the waves still running."""
    if not PacedReplay.objects.filter(pk=paced_id).exists():
        raise NotFound("no such paced replay")
    return pacing.cancel_paced(paced_id=paced_id, actor=actor)


def reveal_payload(*, event_id: uuid.UUID, actor: User, reason: str) -> tuple[Event, ContentReveal]:
    """Return the event with its payload and write the audit row saying who looked, when and
    why. The event is copied to delivery's AuditedEvent, so the audit outlives retention."""
    event = audit.find_event(event_id)
    if event is None:
        raise NotFound(f"no event {event_id}")
    reason = reason.strip()
    if not reason:
        raise RevealRefused("a reveal needs a reason (it goes in the audit)")
    if not storable(reason):
        raise unstorable(RevealRefused, "the reason")
    with transaction.atomic():
        audit.preserve([event])
        reveal = ContentReveal.objects.create(
            actor=actor,
            actor_name=actor.get_username(),
            event_id=event.event_id,
            thread_id=event.thread_id,
            reason=reason[:300],
        )
    return event, reveal


def acknowledge(*, alert_id: int, actor: User, note: str = "") -> Alert:
    """Acknowledge an open alert in `actor`'s name (someone is on it), with an optional note;
    any other state is left as it is."""
    acknowledge_alert(alert_id=alert_id, by=actor.get_username(), note=_note(note))
    return _alert(alert_id)


def resolve_alert(*, alert_id: int, actor: User, note: str = "") -> Alert:
    """Resolve an active alert in `actor`'s name, with an optional note; the webhook hears of
    it. A resolved one stays as it was."""
    resolve(Alert.objects.filter(pk=alert_id), by=actor.get_username(), note=_note(note))
    return _alert(alert_id)


def _note(note: str) -> str:
    note = note.strip()
    if not storable(note):
        raise unstorable(BadBody, "the note")
    return note


def _alert(alert_id: int) -> Alert:
    alert = Alert.objects.select_related("thread").filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


def start_verification() -> VerificationRun:
    """Record a run and queue its checks on a worker; the page follows `checks` as they land."""
    with transaction.atomic():
        run = VerificationRun.objects.create(trigger=CONSOLE_TRIGGER)
        transaction.on_commit(partial(run_verification_checks.delay, run.pk))
    return run


# What each scope lets a service do, as the keys page offers them.
KEY_SCOPES = [
    (KeyScope.PUBLISH.value, "publish events to any thread"),
    (KeyScope.READ.value, "page any thread's history and see its presence"),
]


def create_api_key(
    *, name: str, scopes: list[str], per_minute: str, actor: User
) -> tuple[ApiKey, str]:
    """A new service key in `actor`'s name; returns the row and the key, shown once."""
    name = name.strip()
    if not name or len(name) > 100 or not storable(name):
        raise BadBody("a key needs a name of 1 to 100 characters")
    try:
        rate = int(per_minute)
    except ValueError:
        raise BadBody("requests a minute must be a whole number") from None
    if not 1 <= rate <= 100_000:
        raise BadBody("requests a minute must be between 1 and 100000")
    if not scopes or not set(scopes) <= set(KeyScope.values):
        raise BadBody(f"pick scopes among {', '.join(KeyScope.values)}")
    if ApiKey.objects.filter(name=name).exists():
        raise BadBody(f"a key named {name!r} exists")
    return apikeys.create_api_key(
        name=name, scopes=scopes, per_minute=rate, created_by=actor.get_username()
    )


def revoke_api_key(*, key_id: uuid.UUID) -> None:
    """Revoke a key at once: its next request is refused with 401."""
    if not ApiKey.objects.filter(pk=key_id).exists():
        raise NotFound("no such key")
    apikeys.revoke_api_key(key_id=key_id)
