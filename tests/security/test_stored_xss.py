"""Stored XSS: a script payload in every free-text field an agent or a person can write (agent
description, decision target and context, session metadata, approval target) comes back escaped on
every page that shows it. The Content-Security-Policy is the second wall; this is the first."""

from __future__ import annotations

import json

from django.urls import reverse

from approvals.models import ApprovalRequest
from core.roles import ALL_ROLES
from evidence.kinds import DECISION_RECORDED
from evidence.models import AgentSession, Decision, EvidenceRecord
from registry.services import agent_update
from tests.permission_matrix import all_entries
from tests.policies.conftest import ask

PAYLOAD = "<script>alert('xss')</script><img src=x onerror=alert(2)>\"'"
RAW = [b"<script>alert('xss')", b"<img src=x onerror"]


def test_payloads_in_free_text_are_escaped_on_every_page(
    acme, rolled_out, agent, agent_client, member, client_as
):
    agent_update(agent=agent, actor=None, description=PAYLOAD)
    session = agent_client.post(
        "/api/v1/sessions",
        json.dumps({"repository": "acme/web", "metadata": {"note": PAYLOAD}}),
        content_type="application/json",
    ).json()
    ask(
        agent_client,
        action="read_file",
        target=f"docs/{PAYLOAD}",
        session_id=session["session_id"],
        context={"note": PAYLOAD},
    )
    ask(agent_client, action="execute_command", target=f"kubectl apply -f '{PAYLOAD}'")
    decision = Decision.objects.filter(tenant=acme).order_by("id").first()
    approval = ApprovalRequest.objects.get(tenant=acme)
    record = EvidenceRecord.objects.filter(tenant=acme, kind=DECISION_RECORDED).order_by("seq").first()
    assert PAYLOAD in decision.target and PAYLOAD in approval.target

    client = client_as(member(acme, *ALL_ROLES), acme)
    pages = [
        reverse(e.url_name) + e.query
        for e in all_entries()
        if e.method == "GET" and not e.api and not e.kwargs
    ]
    pages += [
        reverse("registry:agent", kwargs={"agent_id": agent.public_id}),
        reverse("policies:decision", kwargs={"public_id": decision.public_id}),
        reverse("policies:session", kwargs={"public_id": AgentSession.objects.get(tenant=acme).public_id}),
        reverse("approvals:detail", kwargs={"public_id": approval.public_id}),
        reverse("evidence:record", kwargs={"public_id": record.public_id}),
    ]
    shown = 0
    for url in pages:
        response = client.get(url)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        body = response.content
        for raw in RAW:
            assert raw not in body, f"{url} renders the payload unescaped"
        shown += b"&lt;script&gt;alert(" in body
    assert shown >= 5, f"the payload was shown (escaped) on only {shown} pages"
