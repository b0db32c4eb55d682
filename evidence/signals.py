"""Signals evidence sends for higher apps (which connect in their AppConfig.ready; evidence imports none)."""

from django.dispatch import Signal

# Sent after commit when a tree head's publication to a witness ended refused or failed.
# Arguments: tenant, publication (evidence.models.WitnessPublication).
witness_publication_failed = Signal()
