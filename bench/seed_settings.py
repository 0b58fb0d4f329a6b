"""samlsite's settings with the seed's way of building configurations (bench/seed_way.py)."""

from samlsite.settings import *  # noqa: F403

SAML_CONFIG_LOADER = "bench.seed_way.sp_config_for_request"
SAML_IDPS_CRYPTO_BACKEND = "xmlsec1"
