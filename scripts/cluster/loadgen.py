"""Steady decision load through the balancer, as an agent sends it: every logical request has an
Idempotency-Key and is retried with the same key until it is answered (or a deadline passes).

Used by the drills (scripts/cluster/drills.py) and the benchmark (scripts/cluster/bench.py). Records
every attempt: what was acknowledged (a 200 with a decision id), what failed (connection errors,
5xx), and whether any failure answered anything but "block" (a 5xx from the portal must carry
`"decision": "block"`; the balancer's own 502/503 without a body is read as block by every client).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

# Where the cluster lives and listens (scripts/cluster/env.sh sets the same defaults).
ROOT = Path(__file__).resolve().parent.parent.parent
C = ROOT / "var" / "cluster"
PORT = int(os.environ.get("CLUSTER_PORT", "8080"))
PRIMARY_PORT = int(os.environ.get("PRIMARY_PORT", "18250"))
sys.path.insert(0, str(ROOT))

REQUEST = {"action": "read_file", "target": "src/app.py", "repository": "cluster/app", "environment": "dev"}


@dataclass
class Results:
    acked: dict[str, str] = field(default_factory=dict)  # idempotency key -> decision id
    latencies: list[float] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (time, what)
    unanswered: int = 0  # logical requests never acknowledged before the deadline
    not_fail_closed: int = 0  # a portal 5xx whose body said anything but block
    logical: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class DecisionLoad:
    def __init__(
        self, port: int, token: str, threads: int = 4, retry_deadline: float = 60.0, pause: float = 0.0
    ):
        self.port, self.token, self.threads = port, token, threads
        self.retry_deadline, self.pause = retry_deadline, pause
        self.results = Results()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> DecisionLoad:
        for _ in range(self.threads):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self) -> Results:
        self._stop.set()
        for thread in self._workers:
            thread.join(self.retry_deadline + 10)
        return self.results

    def _post(self, conn: http.client.HTTPConnection, key: str) -> tuple[int, dict]:
        conn.request(
            "POST",
            "/api/v1/decisions",
            body=json.dumps(REQUEST),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            },
        )
        response = conn.getresponse()
        raw = response.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        return response.status, body

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._stop.is_set():
            key = f"drill-{uuid.uuid4().hex}"
            with self.results.lock:
                self.results.logical += 1
            began = time.monotonic()
            while True:
                attempt = time.monotonic()
                try:
                    status, body = self._post(conn, key)
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    status, body, what = 0, {}, type(exc).__name__
                else:
                    what = f"HTTP {status}"
                if status == 200 and body.get("decision_id"):
                    with self.results.lock:
                        self.results.acked[key] = body["decision_id"]
                        self.results.latencies.append(time.monotonic() - attempt)
                    break
                with self.results.lock:
                    self.results.failures.append((time.time(), what))
                    if status >= 500 and body and body.get("decision") not in (None, "block"):
                        self.results.not_fail_closed += 1
                if time.monotonic() - began > self.retry_deadline:
                    with self.results.lock:
                        self.results.unanswered += 1
                    break
                time.sleep(0.1)
            if self.pause:
                time.sleep(self.pause)
        conn.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
