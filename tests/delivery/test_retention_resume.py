"""A client resuming into a pruned range: `resync` (reason retention), then what is retained."""

import pytest

from delivery import emit
from delivery.ledger.retention import prune_ledger
from tests.delivery.retention_ledger import cutoff, ledger
from tests.delivery.wsclient import connect, db, receive_events

pytestmark = pytest.mark.django_db(transaction=True)


async def test_resume_below_the_retained_range_gets_resync_then_the_retained_events(thread, user):
    await db(ledger)(thread, "aaaa")
    await db(ledger)(thread, "aa", days_old=1)
    report = await db(prune_ledger)(older_than=cutoff())
    assert report.events == 4
    ws, hello = await connect(thread, user, after=1)
    assert hello["resumed_from"] == 1
    resync = await ws.receive_json_from(timeout=5)
    assert resync == {"type": "resync", "from": 1, "to": 4, "reason": "retention"}
    assert [f["seq"] for f in await receive_events(ws, 2)] == [5, 6]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_resume_on_a_fully_pruned_thread_gets_resync_then_live_events(thread, user):
    await db(ledger)(thread, "aaa")
    await db(prune_ledger)(older_than=cutoff())
    ws, _ = await connect(thread, user, after=0)
    resync = await ws.receive_json_from(timeout=5)
    assert resync == {"type": "resync", "from": 0, "to": 3, "reason": "retention"}
    await db(emit)(thread, "agent_step", {})
    assert [f["seq"] for f in await receive_events(ws, 1)] == [4]
    await ws.disconnect()


async def test_a_fresh_client_after_a_prune_resumes_at_the_watermark_without_resync(thread, user):
    await db(ledger)(thread, "aaa")
    await db(prune_ledger)(older_than=cutoff())
    await db(emit)(thread, "agent_step", {})
    ws, hello = await connect(thread, user)
    assert hello["resumed_from"] == 3
    assert [f["seq"] for f in await receive_events(ws, 1)] == [4]
    await ws.disconnect()
