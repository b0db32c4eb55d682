"""Small display filters shared by every page."""

from django import template

from core.roles import Role

register = template.Library()
_ROLE_LABELS = dict(Role.choices)


@register.filter
def words(value) -> str:
    """`execute_command` -> `execute command`: identifiers read as words."""
    return str(value or "").replace("_", " ")


@register.filter
def role_label(value) -> str:
    return _ROLE_LABELS.get(str(value), str(value))
