"""A private PostgreSQL server for a benchmark or load test: initdb once, start, restart mid-load, stop.

The load test restarts PostgreSQL under load, which it may only do to a server of its own: never the
machine's shared server on 5432. Like scripts/cluster/up.sh, the cluster lives under a directory of
ours (bench/.cache/pg-<port>/), listens on 127.0.0.1 only (no Unix socket), and runs as the
`postgres` system user when we are root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path


def pg_bindir() -> Path:
    found = os.environ.get("PGBIN")
    if found:
        return Path(found)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not candidates:
        raise SystemExit(
            "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)"
        )
    return candidates[-1]


class PgInstance:
    """One PostgreSQL cluster in `root` on 127.0.0.1:`port`, owned by the caller."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = Path(root), port
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.bin = pg_bindir()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def _pg(self, tool: str, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=timeout,
        )

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and subprocess.run(
            [*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).returncode == 0

    def init(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                f"\n# bench/pg_instance.py\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                "unix_socket_directories = ''\nmax_connections = 100\nsynchronous_commit = on\nfsync = on\n"
            )

    def start(self) -> None:
        self.init()
        if not self.running():
            self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def restart(self, mode: str = "fast") -> float:
        """`pg_ctl restart -m mode`: every connection is cut; returns the seconds until it accepts again."""
        t0 = time.monotonic()
        self._pg(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", mode, "-w", "-t", "120", "restart"
        )
        return time.monotonic() - t0

    def stop(self) -> None:
        if self.running():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
