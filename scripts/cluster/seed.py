"""Seeds the local cluster once: tenant `cluster`, the bundled baseline pack enforced, one agent token.

Usage: DATABASE_URL=<primary> python scripts/cluster/seed.py <token file>. Idempotent: an existing
tenant and token file are kept.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from policies.services import policy_pack_install_bundled, rollout_set  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

TENANT = "cluster"


def main(token_file: Path) -> None:
    if Tenant.objects.filter(slug=TENANT).exists() and token_file.exists():
        return
    tenant = Tenant.objects.filter(slug=TENANT).first() or tenant_create(slug=TENANT, name="Cluster drill")
    version = policy_pack_install_bundled(tenant=tenant, pack_id="baseline", actor=None)
    rollout_set(tenant=tenant, version=version, mode="enforce", actor=None)
    out = io.StringIO()
    call_command("cavra_agent_token", tenant=TENANT, agent="drill-agent", profile="claude-code", stdout=out)
    token_file.write_text(out.getvalue().strip() + "\n")
    token_file.chmod(0o600)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
