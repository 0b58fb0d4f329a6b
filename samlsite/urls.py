from django.apps import apps
from django.contrib import admin
from django.urls import include, path

from .health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("saml_idps.urls")),
]

if apps.is_installed("saml_idps.demo_idp"):
    urlpatterns.append(path("demo-idp/", include("saml_idps.demo_idp.urls")))
