from django.conf import settings
from django.urls import path

from . import views

app_name = "demo_idp"

# The demo IdP signs anyone in as anyone: with DEBUG off it serves nothing, whatever includes it.
urlpatterns = (
    []
    if not settings.DEBUG
    else [
        path("<slug:tenant>/", views.home, name="home"),
        path("<slug:tenant>/metadata/", views.metadata, name="metadata"),
        path(
            "<slug:tenant>/sso/redirect/",
            views.single_sign_on,
            {"binding": "redirect"},
            name="sso_redirect",
        ),
        path("<slug:tenant>/sso/post/", views.single_sign_on, {"binding": "post"}, name="sso_post"),
        path("<slug:tenant>/sign-in/", views.sign_in, name="sign_in"),
        path("<slug:tenant>/launch/", views.launch, name="launch"),
        path("<slug:tenant>/slo/", views.single_logout, name="slo"),
    ]
)
