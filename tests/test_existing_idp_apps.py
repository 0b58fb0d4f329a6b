"""Moving an existing IdP app here: the SP entity ID and ACS URL the IdP already knows, per IdP.

Okta's guide tells the admin to enter http://HOST/saml/sso/<name> as both the Single sign-on URL
and the Audience URI; such an app, or one set up for another SP, must work without an edit."""

import json

from django.contrib.auth import get_user_model
from django.core.management import CommandError
from django.test import TestCase, override_settings
from lxml import etree
from saml2.md import NAMESPACE as MD_NS

from saml_idps import transfer
from saml_idps.models import IdentityProvider

from .fixtures import (
    SITE,
    SamlTestCase,
    acs_url,
    admin_change_data,
    register,
    shared_idp,
    sp_metadata,
)
from .test_cli import run, write

OKTA_GUIDE_SLUG = "example-okta-com"
OKTA_GUIDE_URL = f"{SITE}/saml/sso/{OKTA_GUIDE_SLUG}"


class OktaGuideAppTests(SamlTestCase):
    """An Okta app made by the guide: Audience URI = Single sign-on URL = /saml/sso/<slug>."""

    def setUp(self):
        super().setUp()
        self.okta = shared_idp("okta")
        self.row = register(self.okta, OKTA_GUIDE_SLUG)
        self.okta.trust(self.sp_metadata())  # so that it can also answer our default audience
        self.row.sp_entity_id = self.row.acs_url = OKTA_GUIDE_URL
        self.row.save()
        self.okta.trust(self.sp_metadata())

    def post_to_guide_url(self, saml_response, relay_state=""):
        return self.client.post(
            f"/saml/sso/{OKTA_GUIDE_SLUG}",
            {"SAMLResponse": saml_response, "RelayState": relay_state},
        )

    def test_sp_initiated_login_asks_for_the_guides_urls_and_signs_in(self):
        location = self.start_login(OKTA_GUIDE_SLUG)
        request = self.okta.received_request(location)
        self.assertEqual(request.issuer.text, OKTA_GUIDE_URL)
        self.assertEqual(request.assertion_consumer_service_url, OKTA_GUIDE_URL)
        saml_response, relay_state = self.okta.answer(location)
        user = self.assertSignedIn(self.post_to_guide_url(saml_response, relay_state))
        self.assertEqual(user.saml_identities.get().identity_provider, self.row)

    def test_idp_initiated_login_signs_in(self):
        saml_response = self.okta.response(OKTA_GUIDE_URL, OKTA_GUIDE_URL)
        self.assertSignedIn(self.post_to_guide_url(saml_response))

    def test_our_sp_metadata_publishes_the_guides_entity_id_and_acs_url_only(self):
        root = etree.fromstring(self.sp_metadata().encode())
        self.assertEqual(root.get("entityID"), OKTA_GUIDE_URL)
        locations = [
            service.get("Location") for service in root.iter(f"{{{MD_NS}}}AssertionConsumerService")
        ]
        self.assertEqual(locations, [OKTA_GUIDE_URL])

    def test_a_response_for_the_default_audience_is_refused(self):
        saml_response = self.okta.response(
            OKTA_GUIDE_URL, f"{SITE}/saml/{OKTA_GUIDE_SLUG}/metadata/"
        )
        # pysaml2 checks the audience (against the configured entity ID) before our own check.
        self.assertRefused(
            self.post_to_guide_url(saml_response),
            "invalid_response",
            detail="AudienceRestrictions conditions not satisfied",
        )

    def test_a_response_addressed_to_the_default_acs_is_refused(self):
        saml_response = self.okta.response(acs_url(OKTA_GUIDE_SLUG), OKTA_GUIDE_URL)
        self.assertRefused(self.post_to_guide_url(saml_response), "wrong_destination")

    def sp_metadata(self):
        return self.client.get(f"/saml/{OKTA_GUIDE_SLUG}/metadata/").content.decode()


class AnotherSpsUrlsTests(SamlTestCase):
    """An app set up for another SP before: its ACS URL is on another host the proxy sends here."""

    OLD_ACS = "https://legacy.example.com/sso/acs"
    OLD_ENTITY_ID = "urn:example:legacy-sp"

    def setUp(self):
        super().setUp()
        self.row_a.sp_entity_id, self.row_a.acs_url = self.OLD_ENTITY_ID, self.OLD_ACS
        self.row_a.save()
        self.idp_a.trust(sp_metadata("idp-a"))

    def test_a_response_with_the_old_audience_and_destination_signs_in(self):
        saml_response = self.idp_a.response(self.OLD_ACS, self.OLD_ENTITY_ID)
        self.assertSignedIn(self.post_response("idp-a", saml_response))

    def test_a_response_for_our_default_urls_is_refused_once_the_old_ones_are_set(self):
        saml_response = self.idp_a.response(acs_url("idp-a"), self.OLD_ENTITY_ID)
        self.assertRefused(self.post_response("idp-a", saml_response), "wrong_destination")


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class SettingTheUrlsTests(TestCase):
    def setUp(self):
        self.idp = shared_idp("idp-a")
        self.row = register(self.idp, "acme")
        admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)

    def change(self, **changes):
        return self.client.post(
            f"/admin/saml_idps/identityprovider/{self.row.pk}/change/",
            admin_change_data(self.row, **changes),
        )

    def test_the_admin_saves_both_and_shows_them_as_the_values_to_paste(self):
        response = self.change(sp_entity_id=" urn:example:sp ", acs_url=OKTA_GUIDE_URL)
        self.assertEqual(response.status_code, 302)
        self.row.refresh_from_db()
        self.assertEqual(
            (self.row.sp_entity_id, self.row.acs_url), ("urn:example:sp", OKTA_GUIDE_URL)
        )
        page = self.client.get(f"/admin/saml_idps/identityprovider/{self.row.pk}/change/")
        self.assertContains(page, "<code>urn:example:sp</code>", html=False)
        self.assertContains(page, f"<code>{OKTA_GUIDE_URL}</code>", html=False)

    def test_an_acs_url_that_is_not_absolute_http_is_a_form_error(self):
        for bad in ["/saml/sso/acme", "ftp://example.com/acs", "javascript:alert(1)", "acs"]:
            with self.subTest(acs_url=bad):
                response = self.change(acs_url=bad)
                self.assertEqual(response.status_code, 200)
                self.assertContains(response, "Enter an absolute http:// or https:// URL")
        self.row.refresh_from_db()
        self.assertEqual(self.row.acs_url, "")

    def test_an_acs_url_that_does_not_parse_is_a_form_error_not_a_crash(self):
        response = self.change(acs_url="https://[::1/acs")
        self.assertContains(response, "Enter an absolute http:// or https:// URL")

    def test_an_entity_id_of_spaces_only_is_a_form_error(self):
        response = self.change(sp_entity_id="   ")
        self.assertContains(response, "empty once its spaces are removed")
        response = self.change(sp_entity_id="urn:with space")
        self.assertContains(response, "An entity ID has no spaces")
        self.row.refresh_from_db()
        self.assertEqual(self.row.sp_entity_id, "")

    def test_the_command_line_adds_an_idp_with_both(self):
        output = run(
            "add",
            OKTA_GUIDE_SLUG,
            "--metadata-file",
            write(shared_idp("idp-b").metadata_xml),
            "--sp-entity-id",
            OKTA_GUIDE_URL,
            "--acs-url",
            OKTA_GUIDE_URL,
        )
        self.assertIn(f"Added {OKTA_GUIDE_SLUG}", output)
        row = IdentityProvider.objects.get(slug=OKTA_GUIDE_SLUG)
        self.assertEqual((row.sp_entity_id, row.acs_url), (OKTA_GUIDE_URL, OKTA_GUIDE_URL))
        shown = run("show", OKTA_GUIDE_SLUG)
        self.assertIn(f'sp_entity_id: "{OKTA_GUIDE_URL}"', shown)
        self.assertIn(f'acs_url: "{OKTA_GUIDE_URL}"', shown)

    def test_the_command_line_refuses_a_relative_acs_url(self):
        with self.assertRaisesMessage(CommandError, "acs_url: Enter an absolute http"):
            run(
                "add", "x", "--metadata-file", write(shared_idp("idp-b").metadata_xml),
                "--acs-url", "/saml/sso/x",
            )  # fmt: skip
        self.assertFalse(IdentityProvider.objects.filter(slug="x").exists())

    def test_export_and_import_carry_both(self):
        IdentityProvider.objects.filter(pk=self.row.pk).update(
            sp_entity_id="urn:example:sp", acs_url=OKTA_GUIDE_URL
        )
        exported = transfer.export(IdentityProvider.objects.all())
        self.assertEqual(exported[0]["sp_entity_id"], "urn:example:sp")
        self.assertEqual(exported[0]["acs_url"], OKTA_GUIDE_URL)
        IdentityProvider.objects.all().delete()
        # An ACS URL of our own choosing is a trust decision: the import asks for the flag.
        with self.assertRaisesMessage(CommandError, "--allow-weaker-security"):
            run("import", write(json.dumps(exported)))
        run("import", write(json.dumps(exported)), "--allow-weaker-security")
        row = IdentityProvider.objects.get()
        self.assertEqual((row.sp_entity_id, row.acs_url), ("urn:example:sp", OKTA_GUIDE_URL))
