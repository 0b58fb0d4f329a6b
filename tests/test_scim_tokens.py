"""SCIM bearer tokens: one IdP's token opens that IdP's service only, is kept as a hash, and
can be rotated and revoked; the CLI makes and revokes them."""

from io import StringIO

from django.core.management import CommandError, call_command
from django.test import TestCase
from django.utils import timezone

from saml_idps.models import ScimToken
from saml_idps.scim import tokens

from .fixtures import register, shared_idp


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
