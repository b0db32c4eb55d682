"""Invitation pages: resend and revoke (tenant admins, from the members page) and accept (the invited person)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views import View

from core.authz import CapabilityRequiredMixin
from tenants.invitations import invitation_accept, invitation_by_token, invitation_resend, invitation_revoke
from tenants.middleware import SESSION_KEY
from tenants.models import User
from tenants.selectors import tenant_invitation_get, tenant_invitations


class _InvitationAction(CapabilityRequiredMixin, View):
    required_capability = "tenants.manage_members"

    def post(self, request, invitation_id: str):
        invitation = tenant_invitation_get(tenant=request.tenant, user=request.user, public_id=invitation_id)
        error = ""
        try:
            message = self.act(request, invitation)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        if not request.htmx:
            (messages.error if error else messages.success)(request, error or message)
            return redirect("tenants:members")
        if not error:
            messages.success(request, message)
        context = {
            "invitations": tenant_invitations(tenant=request.tenant, user=request.user),
            "invitation_error": error,
        }
        return render(request, "tenants/members.html#invitations", context, status=422 if error else 200)


class InvitationResendView(_InvitationAction):
    def act(self, request, invitation) -> str:
        invitation_resend(invitation=invitation, actor=request.user, base_url=request.build_absolute_uri("/"))
        return f"Invitation e-mailed to {invitation.email} again; the earlier link no longer works."


class InvitationRevokeView(_InvitationAction):
    def act(self, request, invitation) -> str:
        invitation_revoke(invitation=invitation, actor=request.user)
        return f"Invitation of {invitation.email} revoked."


class InvitationAcceptView(View):
    """Public: the link is the credential. A signed-in person accepts for their own address; a new address
    chooses a password (or, where the tenant uses SSO, can sign in with it after joining)."""

    template = "tenants/invitation_accept.html"

    def _context(self, request, invitation, **extra) -> dict:
        user = request.user if request.user.is_authenticated else None
        return {
            "invitation": invitation,
            "signed_in": user,
            "has_account": user is None and User.objects.filter(email__iexact=invitation.email).exists(),
            **extra,
        }

    def get(self, request, token: str):
        invitation = invitation_by_token(token)
        if invitation is None:
            return render(request, self.template, {"invalid": True}, status=404)
        return render(request, self.template, self._context(request, invitation))

    def post(self, request, token: str):
        invitation = invitation_by_token(token)
        if invitation is None:
            return render(request, self.template, {"invalid": True}, status=404)
        user = request.user if request.user.is_authenticated else None
        password, again = request.POST.get("password", ""), request.POST.get("password2", "")
        errors: dict = {}
        if user is None and password != again:
            errors = {"password2": "The two passwords differ."}
        else:
            try:
                membership = invitation_accept(
                    token=token, user=user, password=password, full_name=request.POST.get("full_name", "")
                )
            except ValidationError as exc:
                errors = exc.message_dict
        if errors:
            context = self._context(
                request,
                invitation,
                errors={k: " ".join(v) if isinstance(v, list) else v for k, v in errors.items()},
            )
            return render(request, self.template, context, status=422)
        if user is None:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        request.session[SESSION_KEY] = membership.tenant_id
        messages.success(request, f"Welcome to {membership.tenant.name}.")
        return redirect("home")
