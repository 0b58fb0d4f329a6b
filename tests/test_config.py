"""The SAML_CONFIG_LOADER: one IdP's stored metadata, our endpoints for it, signatures required."""

from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import resolve
from djangosaml2.conf import get_config
from djangosaml2.utils import get_idp_sso_supported_bindings
from saml2 import BINDING_HTTP_POST

from saml_idps.config import UNBOUND_ENTITY_ID, sp_config_for_request

from .fixtures import SamlTestCase


def request_for(path):
    request = RequestFactory().get(path)
    request.resolver_match = resolve(path)
    return request


class ConfigLoaderTests(SamlTestCase):
    def test_config_trusts_only_the_idp_of_the_url(self):
        config = sp_config_for_request(request_for("/saml/idp-a/login/"))
        self.assertEqual(list(config.metadata.identity_providers()), [self.idp_a.entity_id])

    def test_config_has_the_per_idp_entity_id_and_both_acs_urls(self):
        config = sp_config_for_request(request_for("/saml/idp-a/acs/"))
        self.assertEqual(config.entityid, "http://testserver/saml/idp-a/metadata/")
        self.assertEqual(
            config.endpoint("assertion_consumer_service", BINDING_HTTP_POST, "sp"),
            ["http://testserver/saml/idp-a/acs/", "http://testserver/saml/sso/idp-a"],
        )

    def test_config_requires_signatures_and_follows_the_idp_initiated_flag(self):
        self.row_a.allow_idp_initiated = False
        self.row_a.save()
        config = sp_config_for_request(request_for("/saml/idp-a/acs/"))
        self.assertTrue(config.getattr("want_assertions_or_response_signed", "sp"))
        self.assertFalse(config.getattr("allow_unsolicited", "sp"))
        self.assertTrue(config.only_use_keys_in_metadata)

    def test_djangosaml2_without_a_request_gets_a_config_with_no_idp(self):
        config = get_config(request=None)
        self.assertEqual(config.entityid, UNBOUND_ENTITY_ID)
        with self.assertRaisesMessage(ImproperlyConfigured, "No IdP configured"):
            get_idp_sso_supported_bindings()
