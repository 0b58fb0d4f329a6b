# Add to the end of your project's urls.py (any prefix; here the app's pages are under /sso/).
from django.conf import settings
from django.urls import include

urlpatterns += [path("sso/", include("saml_idps.urls"))]
if settings.DEBUG:
    urlpatterns += [path("demo-idp/", include("saml_idps.demo_idp.urls"))]
