"""Home panel for compliance users: is the evidence chain intact, and how recently was it proven?"""

from __future__ import annotations

from core.pages import HomePanel
from evidence.selectors import chain_head, checkpoints_list, verification_latest


def _context(*, user, tenant) -> dict:
    return {
        "head": chain_head(tenant),
        "verification": verification_latest(tenant=tenant, user=user),
        "checkpoint": checkpoints_list(tenant=tenant, user=user).first(),
    }


HOME_PANELS = [
    HomePanel("Evidence integrity", "evidence/panels/integrity.html", "evidence.view", _context, order=10)
]
