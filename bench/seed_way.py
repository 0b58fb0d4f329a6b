"""The seed's way, for comparison: Okta's Flask example on PySAML2 fetched the IdP's metadata
over HTTP and built a new pysaml2 configuration and client for every request. As a djangosaml2
configuration builder in front of the same views, with stock pysaml2: the xmlsec1 program checks
signatures and the SP key is loaded and validated on every build. Used by bench/acs_throughput.py
through bench/seed_settings.py; never by the site.
"""

import os

import requests
import saml2.sigver

from saml_idps import crypto, views
from saml_idps.config import build_sp_config, sp_urls

# Stock pysaml2: undo saml_idps.crypto.install() in this process.
for module in crypto._CALLERS:
    module.security_context = crypto._pysaml2_security_context
saml2.sigver.import_rsa_key_from_file = crypto._pysaml2_import_rsa_key_from_file

METADATA_URL = os.environ.get("BENCH_SEED_METADATA_URL", "")


def sp_config_for(identity_provider, request):
    identity_provider.metadata_xml = requests.get(METADATA_URL, timeout=10).text
    return build_sp_config(identity_provider, sp_urls(identity_provider, request))


# In this process only, the views of saml_idps build each request's configuration this way.
views.IdentityProviderMixin.get_sp_config = lambda view, request: sp_config_for(
    view.identity_provider, request
)
