"""Django messages for htmx requests: sent as an `HX-Trigger` event that static/js/answers.js shows as a toast."""

from __future__ import annotations

import json

from django.contrib import messages

EVENT = "cavra:messages"


class HtmxMessagesMiddleware:
    """An htmx answer swaps a fragment, never the page's message list, so a success message would be
    lost until the next full page. Deliver it with the answer instead.

    Must sit after MessageMiddleware and HtmxMiddleware. Redirects keep their messages for the page
    they lead to; a response that already rendered them (a full page) is left alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or 300 <= response.status_code < 400:
            return response
        storage = messages.get_messages(request)
        if getattr(storage, "used", True):
            return response
        items = [{"level": m.level_tag or "info", "text": str(m.message)} for m in storage]
        if not items:
            return response
        events = _existing_events(response.get("HX-Trigger"))
        events[EVENT] = {"messages": items}
        response["HX-Trigger"] = json.dumps(events)
        return response


def _existing_events(header: str | None) -> dict:
    """HX-Trigger is either JSON ({"event": detail}) or comma-separated event names."""
    if not header:
        return {}
    try:
        parsed = json.loads(header)
    except ValueError:
        return {name.strip(): None for name in header.split(",") if name.strip()}
    return parsed if isinstance(parsed, dict) else {}
