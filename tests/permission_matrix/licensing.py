"""The licence status page (tenant admins; platform admins too, tested in tests/licensing/) and its upload."""

from core.roles import Role
from tests.permission_matrix import Entry

ENTRIES = [
    Entry("licensing:status", roles=(Role.TENANT_ADMIN,), note="superusers without a tenant too"),
    Entry(
        "licensing:upload",
        method="POST",
        data={},
        platform_only=True,
        ok=(422,),
        note="platform admins only; an empty form answers 422 naming licence_file (uploads: tests/licensing/)",
    ),
]
