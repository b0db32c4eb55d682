"""`manage.py cavra_agent_token --tenant SLUG --agent NAME [--profile P]`: print a fresh agent token."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry.models import Agent
from registry.profiles import PROFILES
from registry.services import agent_create, agent_credential_issue, agent_update
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Register the agent if it does not exist yet and print a new token for it. Only the token goes "
        "to stdout, so `TOKEN=$(python manage.py cavra_agent_token ...)` works in scripts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug, e.g. acme")
        parser.add_argument("--agent", required=True, help="Agent name, e.g. ci-payments")
        parser.add_argument(
            "--profile",
            help=f"Capability profile for a new agent (default read-only): {', '.join(PROFILES)}. "
            "Given for an existing agent, it changes the agent's profile.",
        )

    def handle(self, *args, tenant: str, agent: str, profile: str | None, **options):
        tenant_obj = Tenant.objects.filter(slug=tenant).first()
        if tenant_obj is None:
            self._fail(f"No tenant with slug {tenant!r}.")
        if profile is not None and profile not in PROFILES:
            self._fail(f"Unknown profile {profile!r}. Valid profiles: {', '.join(PROFILES)}.")
        if profile == "custom":
            self._fail(
                "A custom profile needs its allowed actions; register the agent in the portal instead."
            )
        try:
            with transaction.atomic():
                existing = Agent.objects.filter(tenant=tenant_obj, name__iexact=agent).first()
                if existing is None:
                    existing = agent_create(
                        tenant=tenant_obj, actor=None, name=agent, profile=profile or "read-only"
                    )
                    self.stderr.write(f"Registered agent {existing.name} ({existing.public_id}) in {tenant}.")
                elif profile is not None and existing.profile != profile:
                    existing = agent_update(agent=existing, actor=None, profile=profile)
                if existing.status == Agent.Status.RETIRED:
                    self._fail(f"Agent {existing.name} is retired; it cannot get a token.")
                _, token = agent_credential_issue(agent=existing, actor=None, label="cavra_agent_token")
        except ValidationError as exc:
            self._fail("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
        self.stdout.write(token)

    def _fail(self, message: str):
        # CommandError prints "CommandError: ..." to stderr and exits 1 when run from the shell.
        raise CommandError(message, returncode=1)
