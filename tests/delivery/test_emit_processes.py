import subprocess
import sys

import pytest

from delivery.models import Event, Thread
from tests.processes import ROOT, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_process_emitters_keep_seqs_contiguous(thread):
    env = subprocess_env()
    per_worker = 24  # 6 of them are emit_many pairs: 30 events a worker
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.delivery.emitter_process",
                str(thread.id),
                str(n),
                str(per_worker),
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=90)
        assert worker.returncode == 0, err
    seqs = list(Event.objects.filter(thread=thread).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 4 * 30 + 1))
    assert Thread.objects.get(pk=thread.pk).last_seq == 120
