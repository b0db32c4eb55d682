"""/api/v1/: each app's api/urls.py, listed explicitly, plus the OpenAPI schema and docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

v1_patterns = [
    path("", include((f"{app}.api.urls", f"{app}-api")))
    for app in ("tenants", "policies", "approvals", "registry", "evidence", "aispm")
]

urlpatterns = [
    path("v1/", include(v1_patterns)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]
