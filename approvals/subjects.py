"""Subject types other than an agent action (e.g. a policy publish): what happens when one is decided.

Approvals is a lower app: higher apps register their subject types in AppConfig.ready(), so this
app never imports them. The handler runs inside the transaction that approves the request; if it
raises, nothing is approved and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SubjectType:
    name: str
    label: str
    on_approved: Callable[..., None]  # on_approved(approval=..., actor=...)
    on_denied: Callable[..., None] | None = None
    url: Callable[..., str] | None = None  # url(approval) -> where the subject is shown


_subject_types: dict[str, SubjectType] = {}


def register_subject_type(subject: SubjectType) -> None:
    _subject_types[subject.name] = subject


def subject_type(name: str) -> SubjectType | None:
    return _subject_types.get(name)
