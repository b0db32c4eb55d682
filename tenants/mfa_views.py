"""Members page actions for MFA: the tenant's "MFA required for roles" policy and a member's MFA reset."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views import View

from core.authz import CapabilityRequiredMixin
from core.roles import Role
from tenants.forms import RolesField
from tenants.member_views import member_row
from tenants.mfa import mfa_reset, tenant_mfa_policy_set
from tenants.selectors import tenant_member_get


class MfaPolicyView(CapabilityRequiredMixin, View):
    required_capability = "tenants.manage_members"

    def post(self, request):
        field = RolesField(required=False)
        try:
            roles = field.clean(request.POST.getlist("mfa_required_roles"))
            tenant_mfa_policy_set(tenant=request.tenant, actor=request.user, roles=roles)
        except ValidationError as exc:
            errors = getattr(exc, "message_dict", {}).get("mfa_required_roles", exc.messages)
            context = {"mfa_error": " ".join(errors), "tenant": request.tenant, "role_choices": Role.choices}
            return render(request, "tenants/members.html#mfa-policy", context, status=422)
        messages.success(request, "MFA policy saved.")
        if request.htmx:
            request.tenant.refresh_from_db()
            context = {"tenant": request.tenant, "role_choices": Role.choices}
            return render(request, "tenants/members.html#mfa-policy", context)
        return redirect("tenants:members")


class MemberMfaResetView(CapabilityRequiredMixin, View):
    required_capability = "tenants.manage_members"

    def post(self, request, membership_id: int):
        membership = tenant_member_get(tenant=request.tenant, user=request.user, membership_id=membership_id)
        try:
            mfa_reset(membership=membership, actor=request.user)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
            if not request.htmx:
                messages.error(request, error)
                return redirect("tenants:members")
            return member_row(request, membership, status=422, row_error=error)
        messages.success(
            request, f"MFA of {membership.user.email} reset: they set it up again at next sign-in."
        )
        if request.htmx:
            return member_row(request, membership)
        return redirect("tenants:members")
