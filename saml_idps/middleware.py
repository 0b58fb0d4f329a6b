from djangosaml2.middleware import SamlSessionMiddleware as BaseSamlSessionMiddleware


class SamlSessionMiddleware(BaseSamlSessionMiddleware):
    """djangosaml2's SAML session cookie, always Secure when it is SameSite=None.

    The IdP posts its response to the ACS from another site, so the cookie that holds the pending
    AuthnRequest must be SameSite=None, and browsers drop SameSite=None cookies that are not
    Secure. djangosaml2 marks it Secure only with SESSION_COOKIE_SECURE, which is off in local
    development. Browsers treat http://127.0.0.1 and http://localhost as secure contexts and keep
    Secure cookies there, so marking it Secure always works locally and in production alike.
    """

    def process_response(self, request, response):
        response = super().process_response(request, response)
        cookie = response.cookies.get(self.cookie_name)
        if cookie is not None and str(cookie["samesite"]).lower() == "none":
            cookie["secure"] = True
        return response
