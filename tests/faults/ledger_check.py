"""The shared end-of-scenario check: what the clients rendered against what the ledger holds."""

from dataclasses import dataclass

from delivery.ledger.selectors import EventState, event_statuses
from delivery.models import Event, Thread
from monitoring.models import Alert
from tests.faults.client import RenderingClient


@dataclass
class Outcome:
    events: int
    threads: int
    lost: int
    rendered_twice: int
    repeats_deduplicated: int
    undelivered: int


def check_zero_silent_loss(clients: list[RenderingClient]) -> Outcome:
    """Assert the Guarantee for every client's thread; return the figures. Sync (ORM)."""
    events = lost = twice = undelivered = 0
    for client in clients:
        thread = Thread.objects.get(pk=client.thread_id)
        seqs = list(
            Event.objects.filter(thread=thread).order_by("seq").values_list("seq", flat=True)
        )
        statuses = event_statuses(thread=thread, seqs=seqs)
        ledger = [(s, statuses[s].state, statuses[s].undelivered_cause) for s in seqs]
        assert seqs == list(range(1, thread.last_seq + 1)), "ledger seqs are not contiguous"
        twice += len(client.rendered) - len(set(client.rendered))
        assert client.rendered == sorted(set(client.rendered)), "rendered out of order or twice"
        missing = set(seqs) - set(client.rendered)
        flagged = {seq for seq, state, cause in ledger if state == EventState.UNDELIVERED and cause}
        lost += len(missing - flagged)
        assert missing <= flagged, f"silently lost on {thread.pk}: {sorted(missing)[:20]}"
        assert set(client.rendered) <= set(seqs), "rendered something the ledger never held"
        for seq, state, _cause in ledger:
            assert state in (EventState.ACKED, EventState.UNDELIVERED), (seq, state)
        if flagged:
            assert Alert.objects.filter(thread=thread, kind="undelivered").exists()
        events += len(seqs)
        undelivered += len(flagged)
    return Outcome(
        events=events,
        threads=len(clients),
        lost=lost,
        rendered_twice=twice,
        repeats_deduplicated=sum(c.repeats for c in clients),
        undelivered=undelivered,
    )
