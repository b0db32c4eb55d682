"""The evidence explorer's records as a table (core.tables): what the page shows and exports."""

from __future__ import annotations

import django_tables2 as tables

from core.tables import BadgeColumn, CodeColumn, MomentColumn, PortalTable, list_meta
from evidence.models import EvidenceRecord


class EvidenceRecordTable(PortalTable):
    seq = tables.Column(verbose_name="#", linkify=("evidence:record", [tables.A("public_id")]))
    public_id = tables.Column(verbose_name="Record id", visible=False)  # in the CSV; the page links it
    created_at = MomentColumn(verbose_name="Time")
    kind = CodeColumn()
    subject = tables.Column(orderable=False, default="")
    actor = tables.Column(default="system")
    agent_ref = tables.Column(verbose_name="Agent", default="—")
    repository = tables.Column(default="—")
    decision = BadgeColumn(default="")
    hash = CodeColumn(chars=12, orderable=False)

    Meta = list_meta(EvidenceRecord, testid="evidence-table", row="record", empty="No records match.")
