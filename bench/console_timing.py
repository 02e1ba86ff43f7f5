"""Console server times on a big ledger (not run in CI).

    uv run python -m config.embedded exec -- python bench/console_timing.py [--seed]

`--seed` migrates and runs `manage.py seed_bench` (100k threads, 1M events) first. Each page is
requested through Django's test client in this process, so the time is the server's: queries
plus template rendering, no network. Prints the median and p95 of REPEAT requests per page.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from delivery.models import Event, Thread, UndeliveredRange  # noqa: E402

REPEAT = 20
settings.ALLOWED_HOSTS = ["*"]
# Pages link static files by name; the manifest only exists after collectstatic.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def timed(client: Client, url: str, status: int = 200) -> tuple[float, float]:
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == status, (url, response.status_code)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    if "--seed" in sys.argv:
        call_command("migrate", verbosity=0)
        call_command("seed_bench")
    print(f"ledger: {Thread.objects.count()} threads, {Event.objects.count()} events")
    operator, _ = get_user_model().objects.get_or_create(
        username="bench-operator", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(operator)
    sample = Thread.objects.filter(title__startswith="bench thread").order_by("-created_at")[500]
    lost_range = UndeliveredRange.objects.order_by("pk").first()
    assert lost_range is not None, "the seeded ledger has no undelivered range"
    lost = Event.objects.get(thread_id=lost_range.thread_id, seq=lost_range.first_seq)
    pages = {
        "search: first page, no filter": "/console/threads/",
        "search: by email": f"/console/threads/?q={sample.owner.email}",
        "search: by username": f"/console/threads/?q={sample.owner.username}",
        # An exact hit answers with a redirect to the thread: the time is the lookup's.
        "search: by thread URL (302)": f"/console/threads/?q=https://x.test/ws/threads/{sample.pk}/",
        "search: by event id (302)": f"/console/threads/?q={lost.event_id}",
        "search: a word in no title": "/console/threads/?q=chargeback",
        "search: health=failing": "/console/threads/?health=failing",
        "search: health=waiting, 24h": "/console/threads/?health=waiting&window=24h",
        "timeline: 10-event thread": f"/console/threads/{sample.pk}/",
        "timeline: failing thread": f"/console/threads/{lost.thread_id}/",
        "overview": "/console/",
    }
    print(f"{'page':34} {'median ms':>10} {'p95 ms':>8}")
    for label, url in pages.items():
        median, p95 = timed(client, url, 302 if label.endswith("(302)") else 200)
        print(f"{label:34} {median:10.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
