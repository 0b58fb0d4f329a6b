"""The djangosaml2 SAML_CONFIG_LOADER: the pysaml2 SP configuration for the IdP of a request.

Each IdP gets its own relying party: its own SP entity ID and endpoints under /saml/<slug>/, and a
configuration holding that one IdP's metadata, read inline from the database.
"""

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404
from django.urls import get_script_prefix, reverse
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.s_utils import UnsupportedBinding
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from . import crypto, keys
from .conf import app_setting
from .models import IdentityProvider
from .sessions import SESSION_IDP_SLUG

# Without a request nothing says which IdP is meant; djangosaml2 then sees a config with none.
UNBOUND_ENTITY_ID = "urn:saml_idps:no-identity-provider"


# pysaml2's options for each choice of IdentityProvider.required_signatures. Signatures are
# always required; the choice is only which element must carry one.
REQUIRED_SIGNATURES = {
    choice: {
        "want_response_signed": choice in ("response", "both"),
        "want_assertions_signed": choice in ("assertion", "both"),
        "want_assertions_or_response_signed": choice == "either",
    }
    for choice in IdentityProvider.RequiredSignatures.values
}


@dataclass(frozen=True)
class SpUrls:
    """Our URLs for one IdP's relying party: what an admin pastes into Okta.

    ``entity_id`` and ``acs`` are as the IdP knows them: the IdP's own settings when it keeps
    the values of an app set up before, else our defaults under /saml/<slug>/."""

    entity_id: str
    acs: str
    acs_alias: str
    metadata: str
    single_logout: str
    login: str
    scim: str
    acs_is_default: bool = True

    @property
    def acs_endpoints(self):
        """The ACS URLs we publish and accept in Destination and Recipient: the IdP's own when
        it has one, else ours and the alias of Okta's guide."""
        return (self.acs, self.acs_alias) if self.acs_is_default else (self.acs,)


def sp_urls(identity_provider, request=None):
    base = app_setting("BASE_URL") or request.build_absolute_uri("/").rstrip("/")
    return urls_for(identity_provider, base)


def urls_for(identity_provider, base):
    """SpUrls of ``identity_provider`` at ``base`` (scheme and host; "" gives paths)."""
    return urls_under(
        base.rstrip("/"),
        identity_provider.slug,
        settings.ROOT_URLCONF,
        get_script_prefix(),
        identity_provider.sp_entity_id,
        identity_provider.acs_url,
    )


@functools.lru_cache(maxsize=4096)
def urls_under(base, slug, urlconf, script_prefix, sp_entity_id="", acs_url=""):
    """SpUrls for ``slug`` at ``base``, remembered: six reverse() calls are a measurable part of
    a login redirect. The URL configuration and script prefix are part of the key."""

    def absolute(name):
        return base + reverse(name, kwargs={"slug": slug})

    metadata_url = absolute("saml_idps:metadata")
    return SpUrls(
        entity_id=sp_entity_id or metadata_url,
        acs=acs_url or absolute("saml_idps:acs"),
        acs_alias=absolute("saml_idps:acs_alias"),
        metadata=metadata_url,
        single_logout=absolute("saml_idps:sls"),
        login=absolute("saml_idps:login"),
        scim=absolute("saml_idps:scim"),
        acs_is_default=not acs_url,
    )


def sp_config(identity_provider, request):
    """The pysaml2 configuration of ``identity_provider`` as ``request`` reaches the site:
    what the views of saml_idps give djangosaml2 (their get_sp_config)."""
    return cached_sp_config(identity_provider, sp_urls(identity_provider, request))


def sp_config_for_request(request=None):
    """djangosaml2's SAML_CONFIG_LOADER, for djangosaml2 code a host project calls itself: the
    enabled IdP of the URL's slug, else of the session's sign-in. The views of saml_idps do not
    use it; they hand djangosaml2 the IdP they looked up."""
    if request is None:
        return build_sp_config(None, None)
    match = request.resolver_match
    slug = (match and match.kwargs.get("slug")) or request.session.get(SESSION_IDP_SLUG)
    try:
        identity_provider = IdentityProvider.objects.get_for_request(slug)
    except IdentityProvider.DoesNotExist:
        raise Http404("No identity provider by that name.") from None
    if not identity_provider.enabled:
        raise Http404("No enabled identity provider by that name.")
    return sp_config(identity_provider, request)


# Built configs by (IdP id, row version, our URLs, SP keys, crypto backend), least recently used
# first. Building one parses the metadata; a hit is a dict lookup. The version is the row's
# updated_at, which every save changes, so a metadata change saved by any instance is used by
# every instance at its next request without anyone reparsing anything.
_built_configs = OrderedDict()
_built_configs_lock = threading.Lock()


def cached_sp_config(identity_provider, urls):
    key = (
        identity_provider.pk,
        identity_provider.updated_at,
        urls,
        keys.current(),
        keys.upcoming(),
        app_setting("CRYPTO_BACKEND"),
    )
    with _built_configs_lock:
        config = _built_configs.get(key)
        if config is not None:
            _built_configs.move_to_end(key)
            return config
    config = build_sp_config(identity_provider, urls)  # outside the lock: it is the slow part
    with _built_configs_lock:
        _built_configs[key] = config
        while len(_built_configs) > app_setting("CONFIG_CACHE_SIZE"):
            _built_configs.popitem(last=False)
    return config


def build_sp_config(identity_provider, urls):
    """The SPConfig trusting only ``identity_provider``'s stored metadata (none when None)."""
    sp_config = crypto.SPConfig()
    sp_config.load(sp_settings(identity_provider, urls))
    return sp_config


def sp_settings(identity_provider, urls):
    """pysaml2's configuration dict of ``identity_provider``'s SP (build_sp_config's)."""
    pair, next_pair = keys.current(), keys.upcoming()
    sp = {
        "name": "saml_idps",
        "authn_requests_signed": False,
        "logout_requests_signed": True,
        "allow_unsolicited": False,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        **REQUIRED_SIGNATURES[IdentityProvider.RequiredSignatures.EITHER],
    }
    config = {
        "entityid": UNBOUND_ENTITY_ID,
        "service": {"sp": sp},
        "metadata": {"inline": []},
        "key_file": pair.key_file,
        "cert_file": pair.cert_file,
        # Assertions encrypted to either certificate decrypt during a rollover.
        "encryption_keypairs": [
            {"key_file": p.key_file, "cert_file": p.cert_file} for p in (pair, next_pair) if p
        ],
        # Okta, Entra ID and Google name attributes freely (FirstName, claim URIs): keep them all.
        "allow_unknown_attributes": True,
        # Keys to check signatures come only from the IdP's metadata, never from the message.
        "only_use_keys_in_metadata": True,
        "crypto_backend": app_setting("CRYPTO_BACKEND"),
    }
    if identity_provider is not None:
        config["entityid"] = urls.entity_id
        config["metadata"]["inline"].append(identity_provider.metadata_xml)
        config["accepted_time_diff"] = identity_provider.clock_skew
        sp["allow_unsolicited"] = identity_provider.allow_idp_initiated
        sp["authn_requests_signed"] = identity_provider.sign_authn_requests
        sp.update(REQUIRED_SIGNATURES[identity_provider.required_signatures])
        sp["endpoints"] = {
            "assertion_consumer_service": [(url, BINDING_HTTP_POST) for url in urls.acs_endpoints],
            "single_logout_service": [
                (urls.single_logout, BINDING_HTTP_REDIRECT),
                (urls.single_logout, BINDING_HTTP_POST),
            ],
        }
    return config


def offers_single_logout(identity_provider, request):
    """Whether the IdP's metadata has a SingleLogoutService for the binding djangosaml2 sends
    LogoutRequests with. Okta (unless configured) and Google Workspace have none: signing out
    then ends the session here only."""
    config = sp_config(identity_provider, request)
    binding = getattr(settings, "SAML_LOGOUT_REQUEST_PREFERRED_BINDING", BINDING_HTTP_REDIRECT)
    try:
        return bool(
            config.metadata.single_logout_service(identity_provider.entity_id, binding, "idpsso")
        )
    except UnsupportedBinding:
        return False
