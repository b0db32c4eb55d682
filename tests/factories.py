"""factory_boy factories for the rows tests need, created through the services the app itself uses.

Each factory's `_create` calls the service that production calls (tenant_create, membership_add,
agent_create, agent_credential_issue, ...), so a test row has what a real one has: hashed tokens,
evidence records, audit entries, routing. `Factory.build()` is not supported where a service is the
only honest way to make the row.

    tenant = TenantFactory(slug="acme")
    user = MemberFactory(tenant=tenant, roles=[Role.OPERATOR])          # a User with that membership
    agent = AgentFactory(tenant=tenant, owner=user)
    token = AgentCredentialFactory(agent=agent).plaintext               # shown once, stored hashed
    server = McpServerFactory(tenant=tenant, server_id="github", tools=["list_issues"])
    approval = ApprovalRequestFactory(tenant=tenant, agent=agent, severity="critical")
    version = PolicyVersionFactory(tenant=tenant)                       # a minimal allow-all pack
    RolloutFactory(tenant=tenant, version=version, mode="enforce")
"""

from __future__ import annotations

import factory
from django.db import transaction

from approvals.models import ApprovalRequest
from approvals.services import approval_request_open
from cavra_engine.policy import Verdict
from cavra_engine.policy.binding import action_digest
from connectors.models import Connector
from connectors.services import connector_create
from evidence.models import AgentSession, Decision, EvidenceRecord
from evidence.services import evidence_append
from policies.decisions import DecisionFacts, DecisionInput, decision_record, session_open
from policies.decisions.types import PolicyRef
from policies.models import PolicyVersion, Rollout
from policies.services import policy_pack_upload, rollout_set
from registry.models import Agent, AgentCredential, McpServer, WorkloadIdentityBinding
from registry.services import (
    agent_create,
    agent_credential_issue,
    mcp_server_create,
    mcp_tool_register,
    workload_identity_bind,
)
from tenants.models import PersonalAccessToken, Tenant, User
from tenants.services import membership_add, tenant_create
from tenants.tokens import personal_token_issue

PASSWORD = "pw-test-123"

MINIMAL_PACK = """\
apiVersion: cavra.policy/v2
metadata: {{id: {pack_id}, title: Test pack, version: 1.0.0, description: test}}
defaults: {{any: allow}}
rules: []
"""


class ServiceFactory(factory.django.DjangoModelFactory):
    """A factory whose rows come from a service: subclasses implement `create_row(**fields)`."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return cls.create_row(**kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise NotImplementedError(f"{cls.__name__} makes rows through a service; use create()")


class TenantFactory(ServiceFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    starter_setup = False  # no recommended pack rolled out: each test sets up the policy it needs

    @classmethod
    def create_row(cls, **fields) -> Tenant:
        return tenant_create(**fields)


class UserFactory(factory.django.DjangoModelFactory):
    """A local account with the shared test password; an existing email is reused, not duplicated."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, *args, email, password, **fields) -> User:
        existing = User.objects.filter(email=email).first()
        return existing or User.objects.create_user(email=email, password=password, **fields)


class MemberFactory(UserFactory):
    """A user holding exactly `roles` in `tenant` (membership_add: guardian grants + audit entry)."""

    class Meta:
        model = User

    tenant = factory.SubFactory(TenantFactory)
    roles: list[str] = []
    email = factory.LazyAttributeSequence(lambda o, n: f"user{n}@{o.tenant.slug}.test")

    @classmethod
    def _create(cls, model_class, *args, tenant, roles, **fields) -> User:
        user = super()._create(model_class, *args, **fields)
        if roles:
            membership_add(tenant=tenant, user=user, roles=list(roles), actor=None)
        return user


class AgentFactory(ServiceFactory):
    class Meta:
        model = Agent

    tenant = factory.SubFactory(TenantFactory)
    actor = None
    name = factory.Sequence(lambda n: f"agent-{n}")
    profile = "claude-code"

    @classmethod
    def create_row(cls, **fields) -> Agent:
        return agent_create(**fields)


class AgentCredentialFactory(ServiceFactory):
    """An issued token: the row stores its hash; the plaintext is on `.plaintext`, as the issuer saw it."""

    class Meta:
        model = AgentCredential

    agent = factory.SubFactory(AgentFactory)
    actor = None

    @classmethod
    def create_row(cls, **fields) -> AgentCredential:
        credential, plaintext = agent_credential_issue(**fields)
        credential.plaintext = plaintext
        return credential


class McpServerFactory(ServiceFactory):
    """A registered server (approved and approved-tier unless told), with `tools` registered and pinned."""

    class Meta:
        model = McpServer

    tenant = factory.SubFactory(TenantFactory)
    actor = None
    server_id = factory.Sequence(lambda n: f"server-{n}")
    name = factory.LazyAttribute(lambda o: o.server_id.title())
    command = factory.LazyAttribute(lambda o: f"npx {o.server_id}")
    trust_tier = McpServer.TrustTier.APPROVED
    approval_state = McpServer.ApprovalState.APPROVED
    tools: tuple[str, ...] = ()

    @classmethod
    def create_row(cls, *, tools=(), **fields) -> McpServer:
        server = mcp_server_create(**fields)
        for tool in tools:
            mcp_tool_register(
                server=server, actor=None, name=tool, description=f"{tool} tool", input_schema={}
            )
        return server


class WorkloadIdentityBindingFactory(ServiceFactory):
    class Meta:
        model = WorkloadIdentityBinding

    agent = factory.SubFactory(AgentFactory)
    actor = None
    issuer = "https://token.actions.githubusercontent.com"
    audience = factory.LazyAttribute(lambda o: f"cavra:{o.agent.tenant.slug}")
    subject = factory.Sequence(lambda n: f"repo:acme/r{n}:*")

    @classmethod
    def create_row(cls, **fields) -> WorkloadIdentityBinding:
        return workload_identity_bind(**fields)


def _binding_digest(o) -> str:
    # The digest the decision path binds an approval to (the target stands in for its normalised form).
    return action_digest(
        agent_ref=o.agent.public_id,
        action=o.action,
        normalised_target=o.target,
        repository=o.repository,
        environment=o.environment,
        policy_digest=o.policy_digest,
    )


class ApprovalRequestFactory(ServiceFactory):
    """A pending request opened as the decision path opens one (routed, notified, evidenced)."""

    class Meta:
        model = ApprovalRequest

    agent = factory.SubFactory(AgentFactory)
    tenant = factory.LazyAttribute(lambda o: o.agent.tenant)
    action = "write_file"
    target = "src/app.py"
    repository = "acme/web"
    environment = "dev"
    rule_id = "filesystem.write.require_approval"
    severity = "high"
    reason = "Writes to source need a reviewer."
    policy_pack = "acme-baseline"
    policy_digest = "sha256:policy-v1"
    action_digest = factory.LazyAttribute(_binding_digest)

    @classmethod
    def create_row(cls, **fields) -> ApprovalRequest:
        return approval_request_open(**fields)


class PolicyVersionFactory(ServiceFactory):
    """An uploaded pack (validated, compiled, tested); by default a minimal allow-all pack."""

    class Meta:
        model = PolicyVersion
        exclude = ("pack_id",)

    tenant = factory.SubFactory(TenantFactory)
    actor = None
    pack_id = "test-pack"
    text = factory.LazyAttribute(lambda o: MINIMAL_PACK.format(pack_id=o.pack_id))

    @classmethod
    def create_row(cls, **fields) -> PolicyVersion:
        return policy_pack_upload(**fields)


class RolloutFactory(ServiceFactory):
    class Meta:
        model = Rollout

    version = factory.SubFactory(PolicyVersionFactory)
    tenant = factory.LazyAttribute(lambda o: o.version.tenant)
    mode = "enforce"
    actor = None

    @classmethod
    def create_row(cls, **fields) -> Rollout:
        return rollout_set(**fields)


class EvidenceRecordFactory(ServiceFactory):
    """One record appended to the tenant's chain in its own transaction (committed before the next)."""

    class Meta:
        model = EvidenceRecord

    tenant = factory.SubFactory(TenantFactory)
    kind = "test.event"
    subject = factory.Sequence(lambda n: f"subj:{n}")
    payload = factory.Sequence(lambda n: {"n": n})

    @classmethod
    def create_row(cls, **fields) -> EvidenceRecord:
        with transaction.atomic():
            return evidence_append(**fields).record  # integrated inline (the test settings)


class PersonalAccessTokenFactory(ServiceFactory):
    """A member's own API token (only the member may mint it); the plaintext is on `.plaintext`."""

    class Meta:
        model = PersonalAccessToken

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(MemberFactory, tenant=factory.SelfAttribute("..tenant"), roles=["auditor"])
    actor = factory.SelfAttribute("user")
    name = factory.Sequence(lambda n: f"token-{n}")

    @classmethod
    def create_row(cls, **fields) -> PersonalAccessToken:
        token, plaintext = personal_token_issue(**fields)
        token.plaintext = plaintext
        return token


class DecisionFactory(factory.django.DjangoModelFactory):
    """A stored decision row for pages and lists that only read decisions (no evidence leaf)."""

    class Meta:
        model = Decision

    tenant = factory.SubFactory(TenantFactory)
    action = "read_file"
    target = "a.py"
    decision = "allow"


class AgentSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentSession

    tenant = factory.SubFactory(TenantFactory)
    agent_name = "bot"


def session_opened(
    tenant: Tenant, *, agent_ref: str = "agt_ci", repository: str = "acme/api"
) -> AgentSession:
    """An agent session, opened by the decision pipeline's one session writer."""
    return session_open(tenant=tenant, agent_ref=agent_ref, repository=repository)


def decision_recorded(
    tenant: Tenant,
    session: AgentSession,
    *,
    action,
    target,
    decision,
    rule_id="",
    severity="",
    reason="",
    policy=None,
) -> Decision:
    """One Decision + its `decision` evidence record, as the pipeline's record step writes them."""
    facts = DecisionFacts(
        agent_ref=session.agent_ref,
        agent_name="",
        data=DecisionInput(action=action, target=target, repository=session.repository or None),
        verdict=Verdict(decision, rule_id or None, severity, reason, normalised_target=target),
        policy=PolicyRef(**(policy or {})),
        action_digest="",
    )
    with transaction.atomic():
        return decision_record(tenant=tenant, facts=facts, session=session).decision


def recorded_decisions(
    tenant: Tenant,
    n: int,
    *,
    agent_ref: str = "agt_ci",
    repository: str = "acme/api",
    target: str = "rm -rf build{i}",
    verdict=lambda i: "block" if i % 2 else "allow",
    **fields,
) -> AgentSession:
    """A session of `n` execute_command decisions (target and verdict by index), each with its evidence."""
    session = session_opened(tenant, agent_ref=agent_ref, repository=repository)
    fields = {"severity": "high", "reason": "r", **fields}
    for i in range(n):
        decision_recorded(
            tenant,
            session,
            action="execute_command",
            target=target.format(i=i),
            decision=verdict(i),
            **fields,
        )
    return session


class ConnectorFactory(ServiceFactory):
    class Meta:
        model = Connector

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Webhook {n}")
    kind = "webhook"
    url = "http://127.0.0.1:9/hook"
    secret = "whsec-test-secret"
    options = factory.LazyFunction(dict)
    event_types = factory.LazyFunction(lambda: ["decision", "approval.pending"])
    min_severity = "low"
    redaction = "standard"
    batching = True

    @classmethod
    def create_row(cls, *, tenant, secret, **values) -> Connector:
        return connector_create(tenant=tenant, actor=None, values=values, secret=secret)
