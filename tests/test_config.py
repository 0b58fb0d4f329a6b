"""The SAML_CONFIG_LOADER: one IdP's stored metadata, our endpoints for it, signatures required."""

from concurrent.futures import ThreadPoolExecutor

from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings
from django.urls import resolve
from djangosaml2.conf import get_config
from djangosaml2.utils import get_idp_sso_supported_bindings
from saml2 import BINDING_HTTP_POST

from saml_idps import config
from saml_idps.config import UNBOUND_ENTITY_ID, sp_config_for_request
from saml_idps.models import IdentityProvider

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


class RowForRequestTests(SamlTestCase):
    def test_the_row_leaves_the_metadata_unread(self):
        row = IdentityProvider.objects.get_for_request("idp-a")
        self.assertEqual((row.pk, row.entity_id), (self.row_a.pk, self.row_a.entity_id))
        self.assertIn("metadata_xml", row.get_deferred_fields())

    def test_an_unknown_slug_has_no_row(self):
        with self.assertRaises(IdentityProvider.DoesNotExist):
            IdentityProvider.objects.get_for_request("nobody")

    def test_each_request_reads_the_row_as_it_is_now(self):
        IdentityProvider.objects.get_for_request("idp-a")
        IdentityProvider.objects.filter(pk=self.row_a.pk).update(enabled=False)
        self.assertFalse(IdentityProvider.objects.get_for_request("idp-a").enabled)


class ConfigCacheTests(SamlTestCase):
    def setUp(self):
        super().setUp()
        config._built_configs.clear()

    def test_the_config_of_an_unchanged_idp_is_built_once(self):
        first = sp_config_for_request(request_for("/saml/idp-a/acs/"))
        second = sp_config_for_request(request_for("/saml/idp-a/login/"))
        self.assertIs(first, second)

    def test_a_saved_change_of_the_idp_is_used_at_the_next_request(self):
        before = sp_config_for_request(request_for("/saml/idp-a/acs/"))
        self.row_a.allow_idp_initiated = False
        self.row_a.save()  # as another instance would: only the row changes
        after = sp_config_for_request(request_for("/saml/idp-a/acs/"))
        self.assertIsNot(before, after)
        self.assertFalse(after.getattr("allow_unsolicited", "sp"))

    @override_settings(SAML_IDPS_CONFIG_CACHE_SIZE=1)
    def test_the_cache_is_bounded(self):
        sp_config_for_request(request_for("/saml/idp-a/acs/"))
        sp_config_for_request(request_for("/saml/idp-b/acs/"))
        self.assertEqual(len(config._built_configs), 1)

    def test_concurrent_requests_get_complete_configs(self):
        rows = [self.row_a, self.row_b]
        urls = {row.pk: config.sp_urls(row, RequestFactory().get("/")) for row in rows}

        def build(n):
            row = rows[n % 2]
            return row.entity_id, config.cached_sp_config(row, urls[row.pk])

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(build, range(40)))
        for entity_id, built in results:
            self.assertEqual(list(built.metadata.identity_providers()), [entity_id])
