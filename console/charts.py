"""The overview's charts, drawn on the server as SVG with axes and values (no script): the
delivery success rate and emit-to-ack p50/p99 per time bucket, read from the ledger.

Success rate: of the events emitted in a bucket, the share acknowledged since. Events whose
client is away count as not yet; the newest bucket is naturally lower while acks arrive.
Latency: for the ack ranges recorded in a bucket, emit to ack of every event they cover.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

SPANS = {
    "2h": (timedelta(hours=2), timedelta(minutes=5)),
    "24h": (timedelta(hours=24), timedelta(hours=1)),
}

SUCCESS_SQL = """
    SELECT floor(EXTRACT(EPOCH FROM (now() - e.created_at)) / %(step)s)::int AS bucket,
           count(*), count(*) FILTER (WHERE e.seq <= t.acked_seq)
      FROM delivery_event e JOIN delivery_thread t ON t.id = e.thread_id
     WHERE e.created_at >= now() - make_interval(secs => %(span)s)
     GROUP BY bucket
"""
# As overview.LATENCY_SQL, per bucket of the ack's time.
LATENCY_SQL = """
    SELECT floor(EXTRACT(EPOCH FROM (now() - a.acked_at)) / %(step)s)::int AS bucket,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY d),
           percentile_cont(0.99) WITHIN GROUP (ORDER BY d), count(*)
      FROM delivery_ackrange a
      JOIN delivery_thread t ON t.id = a.thread_id
     CROSS JOIN LATERAL (
           SELECT EXTRACT(EPOCH FROM (a.acked_at - e.created_at)) AS d FROM delivery_event e
            WHERE e.thread_id = a.thread_id AND e.seq > a.above AND e.seq <= a.upto
              AND e.created_at BETWEEN t.created_at AND a.acked_at
           OFFSET 0) acked
     WHERE a.acked_at >= now() - make_interval(secs => %(span)s)
     GROUP BY bucket
"""


@dataclass
class Series:
    name: str
    css: str  # the line's class: its colour comes from the console's stylesheet
    values: list[float | None]
    points: str = ""
    dots: list[tuple[float, float, str]] = field(default_factory=list)
    last: str = "—"


@dataclass
class Chart:
    title: str
    unit: str
    series: list[Series]
    x_ticks: list[tuple[float, str, str]]  # position, label, text-anchor
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    # Value labels sit inside the plot, above their grid line, so no margin clips them at
    # any width; the first and last time labels are anchored to the plot's edges.
    width: int = 560
    height: int = 210
    left: int = 8
    right: int = 8
    top: int = 26
    bottom: int = 30

    @property
    def plot_right(self) -> int:
        return self.width - self.right

    @property
    def plot_bottom(self) -> int:
        return self.height - self.bottom

    @property
    def has_data(self) -> bool:
        return any(v is not None for s in self.series for v in s.values)


def _buckets(span: str) -> tuple[int, int, datetime]:
    length, step = SPANS[span]
    return int(length / step), int(step.total_seconds()), timezone.now()


def _read(sql: str, span: str) -> tuple[int, list[tuple]]:
    count, step, _ = _buckets(span)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"step": step, "span": step * count})
        return count, cursor.fetchall()


def success_rate(span: str = "2h") -> Chart:
    count, rows = _read(SUCCESS_SQL, span)
    rate: list[float | None] = [None] * count
    for bucket, emitted, acked in rows:
        if 0 <= bucket < count and emitted:
            rate[count - 1 - bucket] = 100.0 * acked / emitted
    chart = Chart("Delivery success rate", "%", [Series("acked", "line-ok", rate)], _x_ticks(span))
    return draw(chart, top=100.0, fmt=lambda v: f"{v:.0f}%")


def latency(span: str = "2h") -> Chart:
    count, rows = _read(LATENCY_SQL, span)
    p50: list[float | None] = [None] * count
    p99: list[float | None] = [None] * count
    for bucket, median, tail, _ in rows:
        if 0 <= bucket < count:
            p50[count - 1 - bucket], p99[count - 1 - bucket] = median, tail
    series = [Series("p50", "line-accent", p50), Series("p99", "line-warn", p99)]
    chart = Chart("Emit → ack latency", "s", series, _x_ticks(span))
    ceiling = max((v for v in p99 + p50 if v is not None), default=1.0)
    return draw(chart, top=_nice(ceiling), fmt=seconds)


def seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 90 else f"{value / 60:.1f} min"


def _nice(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value`."""
    magnitude = 10.0 ** (len(str(int(value))) - 1) if value >= 1 else 0.001
    while True:
        for factor in (1, 2, 5, 10):
            if factor * magnitude >= value:
                return factor * magnitude
        magnitude *= 10


def _x_ticks(span: str) -> list[tuple[float, str, str]]:
    """Bucket positions (0..count-1) with the clock time of their start, every quarter."""
    count, step, now = _buckets(span)
    ticks = []
    for index in range(0, count, max(1, count // 4)):
        start = now - timedelta(seconds=step * (count - index))
        ticks.append((float(index), f"{start:%H:%M}", "start" if index == 0 else "middle"))
    ticks.append((float(count - 1), "now", "end"))
    return ticks


def draw(chart: Chart, *, top: float, fmt) -> Chart:  # type: ignore[no-untyped-def]
    """Place every value and tick in the SVG's coordinates."""
    width = chart.plot_right - chart.left
    height = chart.plot_bottom - chart.top
    count = max(len(s.values) for s in chart.series)
    step = width / max(1, count - 1)

    def y(value: float) -> float:
        return chart.plot_bottom - min(value / top, 1.0) * height

    for series in chart.series:
        dots = [
            (chart.left + i * step, y(v), fmt(v))
            for i, v in enumerate(series.values)
            if v is not None
        ]
        series.dots = [(round(x, 1), round(yy, 1), label) for x, yy, label in dots]
        series.points = " ".join(f"{x},{yy}" for x, yy, _ in series.dots)
        series.last = dots[-1][2] if dots else "—"
    chart.y_ticks = [(round(y(top * f), 1), fmt(top * f)) for f in (0, 0.25, 0.5, 0.75, 1.0)]
    chart.x_ticks = [(round(chart.left + i * step, 1), text, at) for i, text, at in chart.x_ticks]
    return chart
