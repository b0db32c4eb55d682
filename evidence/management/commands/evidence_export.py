"""Export an evidence bundle from the command line (the same service as the page and the API)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from evidence.services import EvidenceError, bundle_export
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Write a tenant's evidence bundle to a file; verify it with `cavra evidence verify FILE`."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--out", required=True, help="output .zip path")
        parser.add_argument("--since")
        parser.add_argument("--until")
        parser.add_argument("--session", default="")
        parser.add_argument("--agent", default="")
        parser.add_argument("--repository", default="")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {opts['tenant']!r}")
        times = {}
        for name in ("since", "until"):
            if opts[name]:
                times[name] = parse_datetime(opts[name])
                if times[name] is None:
                    raise CommandError(f"--{name}: not an ISO 8601 date-time")
        try:
            export = bundle_export(tenant=tenant, actor="system:cli", session=opts["session"], agent=opts["agent"],
                                   repository=opts["repository"], **times)  # fmt: skip
        except EvidenceError as exc:
            raise CommandError(str(exc))
        with open(opts["out"], "wb") as fh:
            fh.write(export.data)
        self.stdout.write(
            f"wrote {opts['out']}: records #{export.first_seq}..#{export.last_seq} ({export.matched} matched)"
        )
