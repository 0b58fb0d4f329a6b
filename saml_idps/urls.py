from django.urls import path

from . import views

app_name = "saml_idps"

urlpatterns = [
    path("", views.home, name="home"),
    path("user/", views.user, name="user"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("saml/sso/<slug:slug>", views.AssertionConsumerServiceView.as_view(), name="acs_alias"),
    path("saml/<slug:slug>/login/", views.LoginView.as_view(), name="login"),
    path("saml/<slug:slug>/acs/", views.AssertionConsumerServiceView.as_view(), name="acs"),
    path("saml/<slug:slug>/metadata/", views.MetadataView.as_view(), name="metadata"),
    path("saml/<slug:slug>/sls/", views.SingleLogoutServiceView.as_view(), name="sls"),
]
