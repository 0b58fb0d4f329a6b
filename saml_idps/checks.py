from django.core.checks import Error, register
from saml2.sigver import SigverError, get_xmlsec_binary


@register()
def check_xmlsec1(app_configs, **kwargs):
    """pysaml2 verifies every signature by running the xmlsec1 program."""
    try:
        get_xmlsec_binary()
    except SigverError:
        return [
            Error(
                "The xmlsec1 program is not installed, so no SAML signature can be checked.",
                hint="Debian/Ubuntu: apt-get install xmlsec1; macOS: brew install libxmlsec1.",
                id="saml_idps.E001",
            )
        ]
    return []
