"""Root URLs: pages per app, the admin, accounts (allauth), the API under /api/, static in the demo."""

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles import views as staticfiles_views
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path, re_path

from core import health, metrics_view
from tenants import sso_views
from tenants import views as tenant_views

handler400 = "core.api.problems.handler400"
handler403 = "core.api.problems.handler403"
handler404 = "core.api.problems.handler404"
handler500 = "core.api.problems.handler500"

urlpatterns = [
    path("", tenant_views.home, name="home"),
    # For the load balancer (and orchestrators): liveness and readiness, public, JSON, no secrets.
    path("healthz", health.liveness, name="healthz"),
    path("readyz", health.readiness, name="readyz"),
    # Prometheus: a METRICS_TOKEN bearer or a superuser session (core/metrics_view.py); 401/403 otherwise.
    path("metrics", metrics_view.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    # Before allauth's own: the same URL, with a refusal in words for an unsolicited SAML response.
    path(
        "accounts/saml/<str:organization_slug>/acs/finish/",
        sso_views.saml_finish_acs,
        name="saml_finish_acs",
    ),
    path("accounts/", include("allauth.urls")),
    path("api/", include("cavra_portal.api.urls")),
]

# Each app's pages live under /<app>/ (listed explicitly: a broken app fails start-up, it never vanishes).
urlpatterns += [
    path("tenants/", include("tenants.urls")),
    path("policies/", include("policies.urls")),
    path("approvals/", include("approvals.urls")),
    path("registry/", include("registry.urls")),
    path("evidence/", include("evidence.urls")),
    path("aispm/", include("aispm.urls")),
    path("connectors/", include("connectors.urls")),
    path("reports/", include("reports.urls")),
    path("licence/", include("licensing.urls")),
]

if settings.DEBUG:
    urlpatterns += staticfiles_urlpatterns()
elif settings.DEMO:
    # The demo runs with DEBUG off (no debug pages) yet must serve its CSS and htmx without a proxy.
    urlpatterns.append(re_path(r"^static/(?P<path>.*)$", staticfiles_views.serve, {"insecure": True}))
