# Add to the end of your project's settings.py.
import warnings

from cryptography.utils import CryptographyDeprecationWarning

# pysaml2 7.5 imports a cipher mode cryptography has moved, and warns at every start.
warnings.filterwarnings("ignore", "CFB has been moved", CryptographyDeprecationWarning)

INSTALLED_APPS += ["djangosaml2", "saml_idps"]
if DEBUG:  # a local IdP to try it with: it signs anyone in, so never with DEBUG off
    INSTALLED_APPS += ["saml_idps.demo_idp"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware") + 1,
    "saml_idps.middleware.SamlSessionMiddleware",
)
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "saml_idps.backends.SamlIdentityBackend",
]
SAML_CONFIG_LOADER = "saml_idps.config.sp_config_for_request"
# With the IdP, the NameID is who signs in: djangosaml2 hands it to the backend.
SAML_USE_NAME_ID_AS_USERNAME = True
# AuthnRequests and LogoutRequests go to the IdP by redirect (signed in the query string).
SAML_DEFAULT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SAML_LOGOUT_REQUEST_PREFERRED_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
# djangosaml2 would set a Content-Security-Policy through django-csp: leave CSP to your site.
SAML_CSP_HANDLER = ""
LOGIN_URL = "saml_idps:home"
LOGIN_REDIRECT_URL = "saml_idps:user"
LOGOUT_REDIRECT_URL = "saml_idps:home"
