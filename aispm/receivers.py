"""Signal receivers of lower apps' events (connected in AispmConfig.ready): each calls one service."""

from __future__ import annotations

from aispm.services.findings import findings_refresh

WITNESS_CHECKS = {"evidence.witness_refused", "evidence.witness_unpublished"}


def findings_on_witness_failure(sender, *, tenant, publication, **kwargs) -> None:
    """A tree head's publication ended refused or failed: open the finding now, not at the next beat run."""
    findings_refresh(tenant=tenant, check_ids=WITNESS_CHECKS)
