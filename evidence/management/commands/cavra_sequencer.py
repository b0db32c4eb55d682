"""`manage.py cavra_sequencer`: the evidence sequencer process (integrates committed leaves into the chains)."""

import signal

from django.core.management.base import BaseCommand

from evidence.services.sequencer import DEFAULT_BATCH, evidence_integrate_all, sequencer_run


class Command(BaseCommand):
    help = "Integrate committed evidence leaves into each tenant's hash chain; leads a tenant while it holds its lock."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="integrate everything pending, then exit")
        parser.add_argument("--interval", type=float, default=0.02, help="idle poll interval in seconds")
        parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="leaves per transaction")

    def handle(self, *args, **opts):
        if opts["once"]:
            self.stdout.write(f"integrated {evidence_integrate_all(limit=opts['batch'])} leaves")
            return
        stopping = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.append(True))
        self.stdout.write(f"sequencer running (batch {opts['batch']}, idle poll {opts['interval']}s)")
        sequencer_run(
            interval=opts["interval"],
            batch=opts["batch"],
            should_stop=lambda: bool(stopping),
            log=self.stderr.write,
        )
        self.stdout.write("sequencer stopped")
