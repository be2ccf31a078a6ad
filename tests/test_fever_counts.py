"""A confirmed fever behind papers not in order is recorded as escalated and counted as a
confirmed fever by every count that reports fevers: the shift handover and the day's
summary (the central dashboard lists escalated events the same way)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from kiosk.core.messages import Reason
from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.export.summary import live_summary
from kiosk.store.lite import utc_now
from kiosk.ui.vm.queries import handover


def test_a_fever_behind_an_expired_pass_counts_as_a_confirmed_fever(gate, loaded_store, clock):
    since = utc_now() - timedelta(days=1)
    readings = [make_reading(t, source=ReadingSource.MANUAL) for t in (38.5, 38.6)]
    result = gate.check("R0004", readings, direction=Direction.IN)  # R0004: pass expired
    assert result.decision.reason is Reason.EXPIRED and result.decision.escalate
    gate.check("R0004", [make_reading(36.5)], direction=Direction.IN)  # expired, no fever
    con = sqlite3.connect(loaded_store.path)
    try:
        rows = con.execute("select reason, escalated from gate_events order by seq").fetchall()
        day = datetime.fromtimestamp(clock.wall_s).date()
        counts = live_summary(con.cursor(), day)[gate.settings.checkpoint.id]
    finally:
        con.close()
    assert rows == [("expired", 1), ("expired", 0)]
    assert (counts["confirmed_fevers"], counts["denials"], counts["deny_expired"]) == (1, 2, 2)
    h = handover(loaded_store.engine, since)
    assert (h.fevers, h.denied) == (1, 2)
