"""/api/v1/: each app's api/urls.py, listed explicitly, plus the OpenAPI schema and docs."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

v1_patterns = [
    path("", include((f"{app}.api.urls", f"{app}-api")))
    for app in ("tenants", "policies", "approvals", "registry", "evidence", "aispm", "connectors", "reports")
]

urlpatterns = [
    path("v1/", include(v1_patterns)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    # Redoc styles itself with injected <style> elements and searches in a blob: worker: its page alone
    # allows those (never inline script).
    path(
        "redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="schema")
        ),
        name="redoc",
    ),
]
