"""/api/v1/: one router that gathers each app's api/urls.py, plus the OpenAPI schema and docs."""

from importlib import import_module

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from cavra_portal.navigation import NAV_APPS

v1_patterns = []
for _app in NAV_APPS:
    try:
        _module = import_module(f"{_app}.api.urls")
    except ModuleNotFoundError:
        continue
    v1_patterns.append(path("", include((_module.urlpatterns, f"{_app}-api"))))

urlpatterns = [
    path("v1/", include(v1_patterns)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]
