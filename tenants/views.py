"""Pages for the shell: home, tenant switching, the members page (htmx inline role edits) and API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.http import require_POST

from core.authz import CapabilityRequiredMixin, can, capabilities_of, roles_of
from core.pages import panels_for
from core.roles import Role
from tenants.forms import MemberInviteForm, MemberRolesForm, PersonalTokenForm, apply_service_errors
from tenants.invitations import invitation_create
from tenants.members import members_with_status, role_change_effect, role_summaries
from tenants.middleware import SESSION_KEY
from tenants.selectors import tenant_invitations, tenant_member_get, tenant_members
from tenants.services import membership_remove, membership_set_roles
from tenants.tokens import (
    personal_token_get,
    personal_token_issue,
    personal_token_revoke,
    personal_tokens_visible,
)


@login_required
def home(request):
    tenant = request.tenant
    if tenant is None:
        return render(request, "tenants/no_tenant.html", status=200)
    return render(
        request,
        "tenants/home.html",
        {
            "panels": panels_for(
                capabilities=capabilities_of(request.user, tenant), user=request.user, tenant=tenant
            ),
            "roles": sorted(roles_of(request.user, tenant)),
        },
    )


@login_required
@require_POST
def tenant_switch(request):
    slug = request.POST.get("tenant", "")
    membership = next((m for m in request.memberships if m.tenant.slug == slug), None)
    if membership is None:
        # Not a member (or no such tenant): the same answer for both, so slugs do not leak.
        raise Http404("No tenant matches that slug.")
    request.session[SESSION_KEY] = membership.tenant_id
    messages.success(request, f"Switched to {membership.tenant.name}.")
    target = request.POST.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("home")
    return HttpResponseRedirect(target)


class MembersView(CapabilityRequiredMixin, View):
    required_capability = "tenants.manage_members"

    def get(self, request):
        return self._render(request, MemberInviteForm())

    def post(self, request):
        form = MemberInviteForm(request.POST)
        if form.is_valid():
            try:
                invitation = invitation_create(
                    tenant=request.tenant,
                    email=form.cleaned_data["email"],
                    roles=form.cleaned_data["roles"],
                    full_name=form.cleaned_data["full_name"],
                    actor=request.user,
                    base_url=request.build_absolute_uri("/"),
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request, f"Invitation e-mailed to {invitation.email}; the link is valid for 7 days."
                )
                if request.htmx:
                    return self._render(request, MemberInviteForm(), partial="members-region")
                return redirect("tenants:members")
        status = 200 if form.is_valid() else 422
        return self._render(request, form, status=status, partial="members-region" if request.htmx else None)

    def _render(self, request, form, *, status=200, partial=None):
        template = "tenants/members.html" + (f"#{partial}" if partial else "")
        context = {
            "members": members_with_status(
                tenant_members(tenant=request.tenant, user=request.user), tenant=request.tenant
            ),
            "invite_form": form,
            "tenant": request.tenant,
            "invitations": tenant_invitations(tenant=request.tenant, user=request.user),
            "role_choices": Role.choices,
            "role_summaries": role_summaries(),
        }
        return render(request, template, context, status=status)


class MemberRolesView(CapabilityRequiredMixin, View):
    """One member's row: GET shows it (or its edit form with ?edit=1), POST saves the roles."""

    required_capability = "tenants.manage_members"

    def get(self, request, membership_id: int):
        membership = tenant_member_get(tenant=request.tenant, user=request.user, membership_id=membership_id)
        editing = request.GET.get("edit") == "1"
        form = MemberRolesForm(initial={"roles": membership.roles})
        return self._row(request, membership, form, editing=editing)

    def post(self, request, membership_id: int):
        membership = tenant_member_get(tenant=request.tenant, user=request.user, membership_id=membership_id)
        form = MemberRolesForm(request.POST)
        if form.is_valid():
            before = membership.roles
            try:
                membership_set_roles(
                    membership=membership, roles=form.cleaned_data["roles"], actor=request.user
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(
                    request, _effect_message(membership.user.email, before, form.cleaned_data["roles"])
                )
                if not request.htmx:
                    return redirect("tenants:members")
                membership.refresh_from_db()
                return self._row(request, membership, MemberRolesForm(initial={"roles": membership.roles}))
        return self._row(request, membership, form, editing=True, status=422)

    def _row(self, request, membership, form, *, editing=False, status=200):
        membership = members_with_status([membership], tenant=request.tenant)[0]
        context = {
            "m": membership,
            "form": form,
            "editing": editing,
            "role_choices": Role.choices,
            "role_summaries": role_summaries(),
        }
        if request.htmx:
            return render(request, "tenants/members.html#member-row", context, status=status)
        return render(request, "tenants/member_edit.html", context, status=status)


def _effect_message(email: str, before, after) -> str:
    """What the change did, in capabilities: "Roles of x saved: gains approvals.review_queue; loses …"."""
    effect = role_change_effect(before, [r for r in Role.values if r in set(after)])
    parts = []
    if effect["gains"]:
        parts.append("gains " + ", ".join(effect["gains"]))
    if effect["loses"]:
        parts.append("loses " + ", ".join(effect["loses"]))
    return (
        f"Roles of {email} saved"
        + (": " + "; ".join(parts) if parts else " (no change in what they may do)")
        + "."
    )


class MemberRemoveView(CapabilityRequiredMixin, View):
    required_capability = "tenants.manage_members"

    def get(self, request, membership_id: int):
        membership = tenant_member_get(tenant=request.tenant, user=request.user, membership_id=membership_id)
        return render(request, "tenants/member_remove.html", {"m": membership})

    def post(self, request, membership_id: int):
        membership = tenant_member_get(tenant=request.tenant, user=request.user, membership_id=membership_id)
        try:
            membership_remove(membership=membership, actor=request.user)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
            if request.htmx:
                membership = members_with_status([membership], tenant=request.tenant)[0]
                form = MemberRolesForm(initial={"roles": membership.roles})
                context = {"m": membership, "form": form, "editing": False, "row_error": error}
                return render(request, "tenants/members.html#member-row", context, status=422)
            return render(
                request, "tenants/member_remove.html", {"m": membership, "error": error}, status=422
            )
        if request.htmx:
            return render(request, "tenants/members.html#member-removed", {"m": membership})
        messages.success(request, f"{membership.user.email} removed from {request.tenant.name}.")
        return redirect("tenants:members")


# ---------------------------------------------------------------- personal API tokens


def _no_store(response):
    # The page may carry a token's only plaintext copy: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


class PersonalTokensView(CapabilityRequiredMixin, View):
    """Any member lists, creates and revokes their own tokens here; a tenant admin sees everyone's.
    A new token's plaintext is in the POST response only: it is never stored, so never shown again."""

    required_capability = None  # any member

    def get(self, request):
        return self._render(request, PersonalTokenForm())

    def post(self, request):
        form = PersonalTokenForm(request.POST)
        extra: dict = {}
        if form.is_valid():
            try:
                token, plaintext = personal_token_issue(
                    user=request.user,
                    tenant=request.tenant,
                    name=form.cleaned_data["name"],
                    expires_at=form.cleaned_data["expires_at"],
                    actor=request.user,
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                extra = {"new_token": plaintext, "new_token_row": token}
                form = PersonalTokenForm()
        status = 422 if form.is_bound and form.errors else 200
        return self._render(request, form, status=status, **extra)

    def _render(self, request, form, *, status=200, **extra):
        template = "tenants/tokens.html" + ("#tokens-region" if request.htmx else "")
        context = {
            "tokens": personal_tokens_visible(tenant=request.tenant, user=request.user),
            "token_form": form,
            "sees_all": can(request.user, request.tenant, "tenants.manage_tokens"),
            **extra,
        }
        return _no_store(render(request, template, context, status=status))


class PersonalTokenRevokeView(CapabilityRequiredMixin, View):
    required_capability = None  # any member

    def post(self, request, token_id: str):
        token = personal_token_get(tenant=request.tenant, user=request.user, public_id=token_id)
        personal_token_revoke(token=token, actor=request.user)
        if request.htmx:
            context = {
                "tokens": personal_tokens_visible(tenant=request.tenant, user=request.user),
                "token_form": PersonalTokenForm(),
                "sees_all": can(request.user, request.tenant, "tenants.manage_tokens"),
            }
            return _no_store(render(request, "tenants/tokens.html#tokens-region", context))
        messages.success(request, f"Token {token.prefix}… revoked; it stops working immediately.")
        return redirect("tenants:tokens")
