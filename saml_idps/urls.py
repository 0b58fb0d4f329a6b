from django.urls import path, re_path

from . import views
from .scim import views as scim_views

app_name = "saml_idps"

urlpatterns = [
    path("", views.home, name="home"),
    path("user/", views.user, name="user"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("saml/<slug:slug>/login/", views.LoginView.as_view(), name="login"),
    path("saml/<slug:slug>/acs/", views.AssertionConsumerServiceView.as_view(), name="acs"),
    # The ACS URL Okta's guide has people configure.
    path("saml/sso/<slug:slug>", views.AssertionConsumerServiceView.as_view(), name="acs_alias"),
    path("saml/<slug:slug>/metadata/", views.MetadataView.as_view(), name="metadata"),
    path("saml/<slug:slug>/sls/", views.SingleLogoutServiceView.as_view(), name="sls"),
    # scim2-server routes what follows v2 (and answers SCIM errors for what it does not know).
    path("scim/<slug:slug>/v2", scim_views.scim, name="scim"),
    re_path(r"^scim/(?P<slug>[-a-zA-Z0-9_]+)/v2(?P<path>/.*)$", scim_views.scim),
]
