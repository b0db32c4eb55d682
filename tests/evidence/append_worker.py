"""Run as a separate process: append N records to one tenant's chain, one transaction each."""

import os
import sys


def main(tenant_id: int, count: int, label: str) -> None:
    import django

    django.setup()
    from django.db import transaction

    from evidence.services import evidence_append
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant_id)
    for i in range(count):
        with transaction.atomic():
            evidence_append(tenant=tenant, kind="test.concurrent", subject=f"{label}:{i}",
                            payload={"writer": label, "i": i, "pid": os.getpid()})  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
