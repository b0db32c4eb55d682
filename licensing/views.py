"""The licence status page (platform and tenant admins) and its upload form (platform admins only)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views import View

from licensing import editions
from licensing.forms import LicenceUploadForm
from licensing.licence_file import EXPIRY_WARNING_DAYS
from licensing.selectors import licence_may_replace, licence_may_view, licence_status, licence_uploads
from licensing.services import LicenceManagedByFile, licence_upload
from tenants.forms import apply_service_errors

TEMPLATE = "licensing/status.html"


class _LicencePage(AccessMixin, View):
    """Anonymous: sign-in; signed in without the right: 403. Works without a tenant (platform admins)."""

    def allowed(self, request) -> bool:
        return licence_may_view(request.user, getattr(request, "tenant", None))

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not self.allowed(request):
            raise PermissionDenied("Only platform admins and tenant admins see the licence.")
        return super().dispatch(request, *args, **kwargs)

    def page(self, request, *, form=None, status=200, partial=None, managed_error=""):
        context = {
            "status": licence_status(),
            "may_replace": licence_may_replace(request.user),
            "form": form or LicenceUploadForm(),
            "managed_error": managed_error,
            "uploads": licence_uploads(),
            "edition_names": [editions.EDITION_LABELS[e] for e in editions.EDITIONS],
            "edition_keys": list(editions.EDITIONS),
            "matrix": editions.edition_matrix(),
            "support": [editions.SUPPORT[e] for e in editions.EDITIONS],
            "warning_days": EXPIRY_WARNING_DAYS,
        }
        template = TEMPLATE + (f"#{partial}" if partial and request.htmx else "")
        return render(request, template, context, status=status)


class LicenceStatusView(_LicencePage):
    def get(self, request):
        return self.page(request)


class LicenceUploadView(_LicencePage):
    def allowed(self, request) -> bool:
        return licence_may_replace(request.user)

    def post(self, request):
        form = LicenceUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.page(request, form=form, status=422, partial="upload-region")
        try:
            upload = licence_upload(actor=request.user, data=form.cleaned_data["licence_file"])
        except ValidationError as exc:
            apply_service_errors(form, exc)
            return self.page(request, form=form, status=422, partial="upload-region")
        except LicenceManagedByFile as exc:
            return self.page(request, form=form, status=409, partial="upload-region", managed_error=str(exc))
        messages.success(request, f"Licence {upload.licence_id} for {upload.licensee} installed.")
        # A new licence changes the whole page (state, banner, history): answer with the page, not a fragment.
        return redirect("licensing:status")
