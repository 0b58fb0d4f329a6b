"""The seed's way, for comparison: Okta's Flask example on PySAML2 fetched the IdP's metadata
over HTTP and built a new pysaml2 configuration and client for every request. As a djangosaml2
configuration builder in front of the same views, with stock pysaml2: a plain SPConfig, which
saml_idps.crypto leaves to pysaml2's own security context, so the xmlsec1 program checks
signatures and the SP key is loaded and validated for every client. Used by
bench/acs_throughput.py through bench/seed_settings.py; never by the site.
"""

import os

import requests
from saml2.config import SPConfig

from saml_idps import views
from saml_idps.config import sp_settings, sp_urls

METADATA_URL = os.environ.get("BENCH_SEED_METADATA_URL", "")


def sp_config_for(identity_provider, request):
    identity_provider.metadata_xml = requests.get(METADATA_URL, timeout=10).text
    sp_config = SPConfig()
    sp_config.load(sp_settings(identity_provider, sp_urls(identity_provider, request)))
    return sp_config


# In this process only, the views of saml_idps build each request's configuration this way.
views.IdentityProviderMixin.get_sp_config = lambda view, request: sp_config_for(
    view.identity_provider, request
)
