import logging

# Refused logins are logged by pysaml2, djangosaml2 and saml_idps by design; keep the test
# output readable. assertLogs still captures these loggers.
for name in ("saml2", "djangosaml2", "saml_idps", "django.request", "xmlschema"):
    logger = logging.getLogger(name)
    logger.handlers = [logging.NullHandler()]
    logger.propagate = False
