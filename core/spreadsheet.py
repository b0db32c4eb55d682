"""Cells written to a file a spreadsheet will open (CSV, XLSX): never a formula the reader did not write."""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value):
    """`value`, quoted with a leading ' when it starts like a formula (CSV injection); other types as they are."""
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
        return "'" + value
    return value
