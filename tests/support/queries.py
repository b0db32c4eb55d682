"""Query-count checks: list pages and API lists run a fixed number of queries however many rows they show."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.test.utils import CaptureQueriesContext


def assert_fixed_query_count(fetch: Callable[[], object], grow: Callable[[], object]):
    """fetch(), then grow() the data, then fetch() again: both fetches must run as many queries.

    Returns the second fetch's result so the caller can check it shows the new rows."""
    with CaptureQueriesContext(connection) as few:
        fetch()
    grow()
    with CaptureQueriesContext(connection) as many:
        result = fetch()
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries][len(few) :]
    return result
