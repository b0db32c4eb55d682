"""Scrape-time gauges of the evidence sequencer: leaves pending and the age of the oldest (integration lag).

Computed from `sequencer_backlog()` when /metrics is scraped, so every web worker reports the same
database state; a scrape while the database is unreachable reports `cavra_sequencer_backlog_up 0`
instead of failing.
"""

from __future__ import annotations

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from evidence.services.sequencer import sequencer_backlog


class SequencerBacklogCollector:
    def collect(self):
        up = GaugeMetricFamily(
            "cavra_sequencer_backlog_up", "1 when the backlog could be read at scrape time."
        )
        try:
            backlog = sequencer_backlog()
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        pending = sum(n for n, _ in backlog.values())
        lag = (
            max((timezone.now() - min(oldest for _, oldest in backlog.values())).total_seconds(), 0.0)
            if backlog
            else 0.0
        )
        yield GaugeMetricFamily(
            "cavra_sequencer_leaves_pending", "Committed evidence leaves not yet integrated.", value=pending
        )
        yield GaugeMetricFamily(
            "cavra_sequencer_oldest_leaf_age_seconds",
            "Age of the oldest pending leaf (integration lag; 0 when none pending).",
            value=lag,
        )


BACKLOG_COLLECTOR = SequencerBacklogCollector()
