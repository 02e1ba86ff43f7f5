"""Build a ledger of a given shape and age for retention tests: one letter per event."""

from datetime import timedelta

from django.utils import timezone

from delivery import emit_many
from delivery.models import Event, EventState

STATES = {
    "a": EventState.ACKED,
    "u": EventState.UNDELIVERED,
    "p": EventState.PENDING,
    "s": EventState.SENT,
}
OLD = 40  # days: past the 30-day cutoff the tests prune at
CUTOFF_DAYS = 30


def ledger(thread, shape: str, days_old: int = OLD) -> None:
    """Emit one event per letter of `shape` (a acked, u undelivered, p pending, s sent), then
    backdate them `days_old` days; seq order is kept in `created_at` a second apart."""
    emit_many(thread, [("agent_step", {"i": i}) for i in range(len(shape))])
    first = Event.objects.filter(thread=thread).count() - len(shape) + 1
    for seq, letter in enumerate(shape, first):
        Event.objects.filter(thread=thread, seq=seq).update(
            state=STATES[letter], created_at=ago(days_old) + timedelta(seconds=seq)
        )


def age(thread, seqs, days_old: int) -> None:
    """Move the `created_at` of `seqs` to `days_old` days ago: the tests' clock."""
    Event.objects.filter(thread=thread, seq__in=seqs).update(created_at=ago(days_old))


def ago(days: float):
    return timezone.now() - timedelta(days=days)


def cutoff():
    return ago(CUTOFF_DAYS)


def seqs(thread) -> list[int]:
    return list(Event.objects.filter(thread=thread).order_by("seq").values_list("seq", flat=True))
