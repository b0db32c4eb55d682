"""What the API's JSON limits (core.api.parsers) cost on top of json.loads.

Run: .venv/bin/python bench/bench_json_limits.py   (prints; copy the numbers into docs/benchmarks.md)

Measures the median time per parse, over many rounds, of a typical decision body and of a 26 KB body
with 400 nested context entries, with plain json.loads and with check_json_limits (depth scan on the
raw text, then the parse, then a walk only when a member or string limit could be exceeded)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cavra_portal.settings")
os.environ.setdefault("CAVRA_DEMO", "1")

import django  # noqa: E402

django.setup()

from core.api.parsers import check_json_limits  # noqa: E402

BODIES = {
    "typical decision": {"action": "read_file", "target": "README.md", "repository": "acme/web"},
    "26 KB context": {
        "action": "execute_command",
        "target": "kubectl apply -f deploy.yaml",
        "context": {"meta": {f"k{i}": ["x" * 40, {"n": i}] for i in range(400)}},
    },
}


def per_call_us(fn, number: int) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main() -> None:
    for name, body in BODIES.items():
        text = json.dumps(body)
        number = 20000 if len(text) < 1000 else 500
        plain = per_call_us(lambda text=text: json.loads(text), number)
        limited = per_call_us(lambda text=text: check_json_limits(text), number)
        print(
            f"{name} ({len(text)} B): json.loads {plain:.1f} us, with limits {limited:.1f} us (+{limited - plain:.1f} us)"
        )


if __name__ == "__main__":
    main()
