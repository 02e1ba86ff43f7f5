"""The overview's charts: success rate and emit-to-ack p50/p99 per time bucket, drawn on the
server as SVG with axes and values."""

from datetime import timedelta

import pytest
from django.utils import timezone

from console import charts
from delivery.ledger.partitions import ensure_partitions
from delivery.models import AckRange, Event
from tests.factories import ThreadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(db):
    """One thread: ten events 40 minutes ago (all acked 2 s later), ten 10 minutes ago (half
    acked 1 s later)."""
    thread = ThreadFactory()
    now = timezone.now()
    old, recent = now - timedelta(minutes=40), now - timedelta(minutes=10)
    ensure_partitions(since=old.date())  # shortly after midnight, 40 minutes ago is yesterday
    thread.__class__.objects.filter(pk=thread.pk).update(
        created_at=old - timedelta(minutes=1), last_seq=20, acked_seq=15, last_event_at=recent
    )
    Event.objects.bulk_create(
        Event(thread=thread, seq=s, type="step", created_at=old if s <= 10 else recent)
        for s in range(1, 21)
    )
    AckRange.objects.bulk_create(
        [
            AckRange(thread=thread, above=0, upto=10, acked_at=old + timedelta(seconds=2)),
            AckRange(thread=thread, above=10, upto=15, acked_at=recent + timedelta(seconds=1)),
        ]
    )
    return thread


def test_success_rate_per_bucket(history):
    chart = charts.success_rate("2h")
    values = [v for v in chart.series[0].values if v is not None]
    assert values == [100.0, 50.0] and chart.series[0].last == "50%"
    assert [label for _, label in chart.y_ticks] == ["0%", "25%", "50%", "75%", "100%"]
    assert chart.x_ticks[-1][1:] == ("now", "end") and len(chart.series[0].values) == 24


def test_latency_p50_and_p99_per_bucket(history):
    chart = charts.latency("2h")
    p50, p99 = ([v for v in s.values if v is not None] for s in chart.series)
    assert [round(v) for v in p50] == [2, 1] and [round(v) for v in p99] == [2, 1]
    assert [label for _, label in chart.y_ticks][-1] == "2.0 s"  # the axis rounds up nicely


def test_the_overview_draws_both_with_axes_and_values(support, history):
    html = support.get("/console/").content.decode()
    assert html.count("<svg") == 2 and html.count('class="axis"') == 4
    assert "<title>acked: 100%</title>" in html and "<title>p99: 1.0 s</title>" in html
