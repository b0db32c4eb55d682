"""Members page actions: deactivate and reactivate a member (confirmation page without JavaScript, the
row swapped in place with htmx). The services are tenants.members, shared with the API."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views import View

from core.authz import CapabilityRequiredMixin
from tenants.forms import MemberRolesForm
from tenants.members import members_with_status, membership_deactivate, membership_reactivate
from tenants.selectors import tenant_member_get


def member_row(request, membership, *, status: int = 200, row_error: str = ""):
    m = members_with_status([membership], tenant=request.tenant)[0]
    context = {"m": m, "form": MemberRolesForm(initial={"roles": m.roles}), "row_error": row_error}
    return render(request, "tenants/members.html#member-row", context, status=status)


class _MemberStateView(CapabilityRequiredMixin, View):
    required_capability = "tenants.manage_members"
    deactivating = True

    def get(self, request, membership_id: int):
        membership = tenant_member_get(tenant=request.tenant, user=request.user, membership_id=membership_id)
        m = members_with_status([membership], tenant=request.tenant)[0]
        return render(request, "tenants/member_state.html", {"m": m, "deactivating": self.deactivating})

    def post(self, request, membership_id: int):
        membership = tenant_member_get(tenant=request.tenant, user=request.user, membership_id=membership_id)
        try:
            message = self.act(request, membership)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
            if request.htmx:
                return member_row(request, membership, status=422, row_error=error)
            m = members_with_status([membership], tenant=request.tenant)[0]
            context = {"m": m, "deactivating": self.deactivating, "error": error}
            return render(request, "tenants/member_state.html", context, status=422)
        messages.success(request, message)
        if request.htmx:
            membership.refresh_from_db()
            return member_row(request, membership)
        return redirect("tenants:members")


class MemberDeactivateView(_MemberStateView):
    def act(self, request, membership) -> str:
        done = membership_deactivate(membership=membership, actor=request.user)
        tokens = len(done["tokens_revoked"])
        where = "everywhere" if done["sessions_scope"] == "all" else f"in {request.tenant.name}"
        return (
            f"{membership.user.email} deactivated: signed out {where}, {tokens} personal API "
            f"token{'s' if tokens != 1 else ''} revoked."
        )


class MemberReactivateView(_MemberStateView):
    deactivating = False

    def act(self, request, membership) -> str:
        membership_reactivate(membership=membership, actor=request.user)
        return f"{membership.user.email} reactivated with the roles they held; their old API tokens stay revoked."
