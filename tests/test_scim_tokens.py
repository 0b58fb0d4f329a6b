"""SCIM bearer tokens: one IdP's token opens that IdP's service only, is kept as a hash, and
can be rotated and revoked; the CLI makes and revokes them."""

import re
from io import StringIO

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import TestCase
from django.utils import timezone

from saml_idps.models import ScimToken
from saml_idps.scim import tokens

from .fixtures import admin_change_data, register, shared_idp


class ScimTokenTestCase(TestCase):
    def setUp(self):
        self.row_a = register(shared_idp("idp-a"), "idp-a", scim_enabled=True)
        self.row_b = register(shared_idp("idp-b"), "idp-b", scim_enabled=True)

    def token_for(self, row, authorization):
        row.refresh_from_db()
        return tokens.live_token(row, authorization)


class LiveTokenTests(ScimTokenTestCase):
    def test_a_token_opens_its_idps_service(self):
        secret = tokens.issue(self.row_a, "Okta")
        token = self.token_for(self.row_a, f"Bearer {secret}")
        self.assertEqual((token.identity_provider, token.label), (self.row_a, "Okta"))

    def test_a_token_of_another_idp_opens_nothing(self):
        secret = tokens.issue(self.row_b)
        self.assertIsNone(self.token_for(self.row_a, f"Bearer {secret}"))

    def test_no_token_opens_an_idp_whose_provisioning_is_off(self):
        secret = tokens.issue(self.row_a)
        self.row_a.scim_enabled = False
        self.row_a.save()
        self.assertIsNone(tokens.live_token(self.row_a, f"Bearer {secret}"))

    def test_a_revoked_token_opens_nothing(self):
        secret = tokens.issue(self.row_a)
        tokens.revoke(ScimToken.objects.get())
        self.assertIsNone(self.token_for(self.row_a, f"Bearer {secret}"))

    def test_during_a_rotation_the_old_and_the_new_token_both_work(self):
        old, new = tokens.issue(self.row_a, "old"), tokens.issue(self.row_a, "new")
        self.assertEqual(self.token_for(self.row_a, f"Bearer {old}").label, "old")
        self.assertEqual(self.token_for(self.row_a, f"Bearer {new}").label, "new")

    def test_anything_but_a_bearer_token_opens_nothing(self):
        secret = tokens.issue(self.row_a)
        for authorization in [None, "", secret, f"Basic {secret}", "Bearer", "Bearer ", "Bearer x"]:
            with self.subTest(authorization=authorization):
                self.assertIsNone(self.token_for(self.row_a, authorization))

    def test_the_scheme_is_read_without_regard_to_case(self):
        secret = tokens.issue(self.row_a)
        self.assertIsNotNone(self.token_for(self.row_a, f"bearer {secret}"))

    def test_only_a_hash_and_the_first_characters_are_kept(self):
        secret = tokens.issue(self.row_a)
        token = ScimToken.objects.get()
        self.assertEqual(token.hint, secret[:8])
        self.assertEqual(token.secret_hash, tokens.digest(secret))
        self.assertNotIn(secret, str(ScimToken.objects.values().get()))

    def test_each_token_is_new(self):
        self.assertNotEqual(tokens.issue(self.row_a), tokens.issue(self.row_a))

    def test_its_use_is_recorded_at_most_once_a_minute(self):
        secret = tokens.issue(self.row_a)
        self.token_for(self.row_a, f"Bearer {secret}")
        first_use = ScimToken.objects.get().last_used_at
        self.assertIsNotNone(first_use)
        self.token_for(self.row_a, f"Bearer {secret}")
        self.assertEqual(ScimToken.objects.get().last_used_at, first_use)
        ScimToken.objects.update(last_used_at=timezone.now() - 2 * tokens.LAST_USED_PRECISION)
        self.token_for(self.row_a, f"Bearer {secret}")
        self.assertGreater(ScimToken.objects.get().last_used_at, first_use)

    def test_only_the_token_used_is_marked_used(self):
        tokens.issue(self.row_a, "unused")
        self.token_for(self.row_a, f"Bearer {tokens.issue(self.row_a, 'used')}")
        self.assertIsNone(ScimToken.objects.get(label="unused").last_used_at)


class ScimTokenCommandTests(ScimTokenTestCase):
    def saml_idps(self, *args):
        output, errors = StringIO(), StringIO()
        call_command("saml_idps", *args, stdout=output, stderr=errors)
        return output.getvalue().strip(), errors.getvalue()

    def test_it_prints_a_working_token_once_and_says_so(self):
        secret, said = self.saml_idps("scim-token", "idp-a", "--label", "Okta")
        self.assertEqual(self.token_for(self.row_a, f"Bearer {secret}").label, "Okta")
        self.assertIn("shown this once", said)

    def test_it_warns_when_provisioning_is_off(self):
        self.row_a.scim_enabled = False
        self.row_a.save()
        _, said = self.saml_idps("scim-token", "idp-a")
        self.assertIn("Provisioning is off for idp-a", said)

    def test_it_revokes_a_token_by_its_first_characters(self):
        secret, _ = self.saml_idps("scim-token", "idp-a")
        output, _ = self.saml_idps("scim-token", "idp-a", f"--revoke={secret[:8]}")
        self.assertIn("revoked", output)
        self.assertIsNone(self.token_for(self.row_a, f"Bearer {secret}"))

    def test_an_unknown_idp_gets_no_token(self):
        with self.assertRaisesMessage(CommandError, "No identity provider nobody"):
            self.saml_idps("scim-token", "nobody")
        self.assertFalse(ScimToken.objects.exists())

    def test_it_revokes_nothing_of_another_idp(self):
        secret, _ = self.saml_idps("scim-token", "idp-b")
        with self.assertRaisesMessage(CommandError, "no live SCIM token"):
            self.saml_idps("scim-token", "idp-a", f"--revoke={secret[:8]}")
        self.assertIsNotNone(self.token_for(self.row_b, f"Bearer {secret}"))


class AdminTokenTests(ScimTokenTestCase):
    """The Provisioning (SCIM) section of an IdP's admin change page."""

    def setUp(self):
        super().setUp()
        self.change_url = f"/admin/saml_idps/identityprovider/{self.row_a.pk}/change/"
        self.token_url = f"/admin/saml_idps/identityprovider/{self.row_a.pk}/scim-token/"
        self.staff = get_user_model().objects.create_user("staff", is_staff=True)

    def sign_in_allowed(self, *codenames):
        self.staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        self.client.force_login(self.staff)

    def test_the_change_page_shows_what_to_paste_into_okta_and_entra_id(self):
        self.sign_in_allowed("view_identityprovider", "change_identityprovider")
        page = self.client.get(self.change_url)
        for text in [
            "SCIM connector base URL",
            "http://testserver/scim/idp-a/v2",
            "Unique identifier field for users",
            "<code>userName</code>",
            "HTTP Header",
            "Tenant URL",
            "Make a SCIM token",
        ]:
            self.assertContains(page, text)

    def test_the_button_shows_a_new_working_token_once(self):
        self.sign_in_allowed("view_identityprovider", "change_identityprovider")
        page = self.client.post(self.token_url)
        secret = re.search(r'<code id="scim-token">([^<]+)</code>', page.content.decode())[1]
        self.assertIn("no-store", page["Cache-Control"])
        self.assertEqual(self.token_for(self.row_a, f"Bearer {secret}").label[-5:], "staff")
        self.assertNotContains(self.client.get(self.change_url), secret)

    def test_a_token_is_made_only_by_a_post(self):
        self.sign_in_allowed("view_identityprovider", "change_identityprovider")
        self.assertEqual(self.client.get(self.token_url).status_code, 405)
        self.assertFalse(ScimToken.objects.exists())

    def test_view_only_staff_can_make_no_token(self):
        self.sign_in_allowed("view_identityprovider")
        self.assertNotContains(self.client.get(self.change_url), "Make a SCIM token</button>")
        self.assertEqual(self.client.post(self.token_url).status_code, 403)
        self.assertFalse(ScimToken.objects.exists())

    def test_a_token_is_revoked_from_the_change_page(self):
        self.sign_in_allowed("view_identityprovider", "change_identityprovider")
        secret = tokens.issue(self.row_a)
        data = admin_change_data(self.row_a)
        data.update(
            {
                "scim_tokens-TOTAL_FORMS": "1",
                "scim_tokens-INITIAL_FORMS": "1",
                "scim_tokens-0-id": str(ScimToken.objects.get().pk),
                "scim_tokens-0-identity_provider": str(self.row_a.pk),
                "scim_tokens-0-revoke": "on",
            }
        )
        self.assertEqual(self.client.post(self.change_url, data).status_code, 302)
        self.assertIsNone(self.token_for(self.row_a, f"Bearer {secret}"))
