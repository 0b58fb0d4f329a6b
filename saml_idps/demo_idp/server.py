"""The demo IdP's pysaml2 Server for one tenant, trusting the relying parties of this site."""

from pathlib import Path

from django.conf import settings
from django.urls import reverse
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_UNSPECIFIED, NAMEID_FORMAT_EMAILADDRESS
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from saml_idps.certificates import generate_self_signed
from saml_idps.conf import app_setting
from saml_idps.config import build_sp_config, sp_urls
from saml_idps.crypto import IdPConfig
from saml_idps.models import IdentityProvider


def key_files():
    """The demo IdP's key and certificate, generated on first use into SAML_IDPS_DEMO_KEY_DIR
    (default BASE_DIR/var/demo_idp)."""
    folder = Path(app_setting("DEMO_KEY_DIR") or Path(settings.BASE_DIR) / "var" / "demo_idp")
    key_file, cert_file = folder / "idp.key", folder / "idp.crt"
    if not key_file.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key_pem, cert_pem = generate_self_signed("samlsite demo IdP")
        key_file.touch(mode=0o600)
        key_file.write_bytes(key_pem)
        cert_file.write_bytes(cert_pem)
    return str(key_file), str(cert_file)


# Tenants named noslo... publish no SingleLogoutService, like Google Workspace, or Okta until
# single logout is turned on: signing out of the site then ends its session only.
NO_SINGLE_LOGOUT_PREFIX = "noslo"


def tenant_name(tenant):
    return "Demo IdP" if tenant == "demo" else f"{tenant.title()} (demo IdP)"


def tenant_server(request, tenant):
    """The IdP for ``tenant``, knowing every IdentityProvider row registered for it."""

    def url(name):
        return request.build_absolute_uri(reverse(f"demo_idp:{name}", args=[tenant]))

    entity_id = url("metadata")
    key_file, cert_file = key_files()
    endpoints = {
        "single_sign_on_service": [
            (url("sso_redirect"), BINDING_HTTP_REDIRECT),
            (url("sso_post"), BINDING_HTTP_POST),
        ],
    }
    if not tenant.startswith(NO_SINGLE_LOGOUT_PREFIX):
        endpoints["single_logout_service"] = [(url("slo"), BINDING_HTTP_REDIRECT)]
    config = IdPConfig()
    config.load(
        {
            "entityid": entity_id,
            "key_file": key_file,
            "cert_file": cert_file,
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "crypto_backend": app_setting("CRYPTO_BACKEND"),
            "metadata": {"inline": relying_party_metadata(request, entity_id)},
            "service": {
                "idp": {
                    "name": tenant_name(tenant),
                    "endpoints": endpoints,
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    "sign_response": True,
                    "sign_assertion": True,
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "name_form": NAME_FORMAT_UNSPECIFIED,
                        }
                    },
                }
            },
        }
    )
    return Server(config=config)


def relying_parties(request, idp_entity_id):
    """The SP configuration of each IdP row registered with this tenant's entity ID, and the
    row: the apps this tenant knows, as an admin would paste them into the IdP."""
    return [
        (build_sp_config(row, sp_urls(row, request)), row)
        for row in IdentityProvider.objects.filter(entity_id=idp_entity_id)
    ]


def relying_party_metadata(request, idp_entity_id):
    return [str(entity_descriptor(config)) for config, _ in relying_parties(request, idp_entity_id)]


def metadata_xml(server):
    return str(entity_descriptor(server.config))
