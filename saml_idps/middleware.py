from django.contrib.auth import SESSION_KEY
from djangosaml2.middleware import SamlSessionMiddleware as BaseSamlSessionMiddleware

from .models import IdentityLink
from .sessions import SESSION_IDP_SLUG, SESSION_LINK


class SamlSessionMiddleware(BaseSamlSessionMiddleware):
    """djangosaml2's SAML session cookie, always Secure when it is SameSite=None; and the end of
    a sign-in whose identity link is gone.

    The IdP posts its response to the ACS from another site, so the cookie that holds the pending
    AuthnRequest must be SameSite=None, and browsers drop SameSite=None cookies that are not
    Secure. djangosaml2 marks it Secure only with SESSION_COOKIE_SECURE, which is off in local
    development. Browsers treat http://127.0.0.1 and http://localhost as secure contexts and keep
    Secure cookies there, so marking it Secure always works locally and in production alike.

    A session signed in through an IdP lasts only while the link it signed in through is live:
    once the IdP deactivates the user over SCIM (or an admin removes the link), the session ends
    at its next request, on whichever instance serves it, because the link is read from the
    database. A deactivated account's sessions end anyway: Django signs in only active users.
    """

    def process_request(self, request):
        super().process_request(request)
        session = request.session
        if SESSION_IDP_SLUG in session and not (
            IdentityLink.objects.filter(
                pk=session.get(SESSION_LINK),
                user_id=session.get(SESSION_KEY),
                deactivated_at__isnull=True,
            ).exists()
        ):
            session.flush()

    def process_response(self, request, response):
        response = super().process_response(request, response)
        cookie = response.cookies.get(self.cookie_name)
        if cookie is not None and str(cookie["samesite"]).lower() == "none":
            cookie["secure"] = True
        return response
