"""Root URLs: pages per app, the admin, accounts (allauth), the API under /api/, static in the demo."""

from importlib import import_module

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles import views as staticfiles_views
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import include, path, re_path

from cavra_portal.navigation import NAV_APPS
from tenants import views as tenant_views

handler400 = "cavra_portal.api.problems.handler400"
handler403 = "cavra_portal.api.problems.handler403"
handler404 = "cavra_portal.api.problems.handler404"
handler500 = "cavra_portal.api.problems.handler500"

urlpatterns = [
    path("", tenant_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/", include("cavra_portal.api.urls")),
]

# Each app's pages live under /<app>/ when it has a urls.py with app_name.
for _app in NAV_APPS:
    try:
        import_module(f"{_app}.urls")
    except ModuleNotFoundError:
        continue
    urlpatterns.append(path(f"{_app}/", include(f"{_app}.urls")))

if settings.DEBUG:
    urlpatterns += staticfiles_urlpatterns()
elif settings.DEMO:
    # The demo runs with DEBUG off (no debug pages) yet must serve its CSS and htmx without a proxy.
    urlpatterns.append(re_path(r"^static/(?P<path>.*)$", staticfiles_views.serve, {"insecure": True}))
