"""Django messages reach an htmx answer as an HX-Trigger toast event; redirects and full pages keep theirs."""

from __future__ import annotations

import json

import pytest
from django.contrib import messages
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse, HttpResponseRedirect
from django.test import RequestFactory
from django_htmx.middleware import HtmxMiddleware

from core.htmx_messages import EVENT, HtmxMessagesMiddleware

pytestmark = pytest.mark.django_db


def _run(view, *, htmx: bool):
    """The middleware order of settings.MIDDLEWARE for the three that matter, around `view`."""
    chain = HtmxMessagesMiddleware(view)
    chain = HtmxMiddleware(chain)
    chain = MessageMiddleware(chain)
    chain = SessionMiddleware(chain)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    request = RequestFactory().post("/x/", **headers)
    return request, chain(request)


def _saying(text, response=None, level=messages.SUCCESS):
    def view(request):
        messages.add_message(request, level, text)
        return response if response is not None else HttpResponse("<tr>row</tr>")

    return view


def test_htmx_answer_carries_its_messages_as_an_event():
    _, response = _run(_saying("Saved <b>x</b>"), htmx=True)
    assert json.loads(response["HX-Trigger"]) == {
        EVENT: {"messages": [{"level": "success", "text": "Saved <b>x</b>"}]}
    }


def test_existing_trigger_events_are_kept():
    view_response = HttpResponse("ok")
    view_response["HX-Trigger"] = "queueChanged, other"
    _, response = _run(_saying("Done", view_response, messages.WARNING), htmx=True)
    events = json.loads(response["HX-Trigger"])
    assert events["queueChanged"] is None and events["other"] is None
    assert events[EVENT]["messages"][0]["level"] == "warning"
    view_response = HttpResponse("ok", status=409)
    view_response["HX-Trigger"] = json.dumps({"refresh": {"id": 1}})
    _, response = _run(_saying("Refused", view_response, messages.ERROR), htmx=True)
    assert json.loads(response["HX-Trigger"])["refresh"] == {"id": 1}


def test_plain_requests_and_redirects_keep_messages_for_the_next_page():
    _, response = _run(_saying("Saved"), htmx=False)
    assert "HX-Trigger" not in response
    request, response = _run(_saying("Saved", HttpResponseRedirect("/next/")), htmx=True)
    assert "HX-Trigger" not in response
    assert [str(m) for m in messages.get_messages(request)] == ["Saved"]  # still queued for /next/


def test_no_messages_no_header():
    _, response = _run(lambda request: HttpResponse("ok"), htmx=True)
    assert "HX-Trigger" not in response
