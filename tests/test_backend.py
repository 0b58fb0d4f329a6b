"""Who an assertion signs in: linked users only, never an existing account by name or email."""

from django.contrib import auth
from django.contrib.auth import get_user_model
from django.test import RequestFactory, override_settings
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID

from saml_idps.models import IdentityLink
from saml_idps.policy import identity_policy
from saml_idps.refusals import LoginRefused

from .fixtures import SamlTestCase

User = get_user_model()


class IdentityLinkingTests(SamlTestCase):
    def test_first_login_creates_a_user_linked_to_the_idp_and_name_id(self):
        user = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        link = IdentityLink.objects.get(user=user)
        self.assertEqual((link.identity_provider, link.name_id), (self.row_a, "alice@example.com"))
        self.assertFalse(user.has_usable_password())

    def test_second_login_signs_in_the_same_user(self):
        first = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        self.client.logout()
        second = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        self.assertEqual(first, second)
        self.assertEqual(User.objects.count(), 1)

    def test_same_name_id_and_email_from_two_idps_reach_two_users(self):
        user_a = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        self.client.logout()
        user_b = self.assertSignedIn(self.idp_initiated(self.idp_b, "idp-b"))
        self.assertNotEqual(user_a, user_b)
        self.assertEqual(user_a.email, user_b.email)
        self.assertNotEqual(user_a.username, user_b.username)

    @override_settings(SAML_USE_NAME_ID_AS_USERNAME=False)
    def test_without_the_name_id_handed_to_the_backend_no_one_signs_in(self):
        # djangosaml2 then looks for an attribute mapped onto the username, which no IdP's
        # mapping may name (check E010 says so at start-up).
        self.assertRefused(self.idp_initiated(self.idp_a, "idp-a"), "not_authenticated")

    def test_existing_account_with_the_asserted_username_is_not_taken_over(self):
        local = User.objects.create_superuser("admin", "admin@example.com", "s3cret-pass")
        user = self.assertSignedIn(
            self.idp_initiated(self.idp_a, "idp-a", name_id="admin", attributes={"uid": ["admin"]})
        )
        self.assertNotEqual(user, local)
        self.assertNotEqual(user.username, "admin")
        self.assertFalse(user.is_staff or user.is_superuser)

    def test_existing_account_with_the_asserted_email_is_not_taken_over(self):
        local = User.objects.create_superuser("root", "alice@example.com", "s3cret-pass")
        user = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        self.assertNotEqual(user, local)
        local.refresh_from_db()
        self.assertTrue(local.has_usable_password())

    def test_new_usernames_are_unique(self):
        User.objects.create_user("alice@example.com")
        user = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a"))
        self.assertEqual(user.username, "alice@example.com2")

    def test_an_admin_linked_account_is_signed_in_with_its_flags_kept(self):
        staff = User.objects.create_user("carol", is_staff=True)
        IdentityLink.objects.create(
            identity_provider=self.row_a, name_id="carol@example.com", user=staff
        )
        user = self.assertSignedIn(
            self.idp_initiated(self.idp_a, "idp-a", name_id="carol@example.com")
        )
        self.assertEqual(user, staff)
        self.assertTrue(user.is_staff)

    def test_inactive_linked_user_is_refused(self):
        inactive = User.objects.create_user("dave", is_active=False)
        IdentityLink.objects.create(
            identity_provider=self.row_a, name_id="dave@example.com", user=inactive
        )
        self.assertRefused(
            self.idp_initiated(self.idp_a, "idp-a", name_id="dave@example.com"),
            "inactive_user",
            "deactivated",
        )


class AttributeTests(SamlTestCase):
    def test_attributes_cannot_grant_staff_superuser_or_a_password(self):
        attributes = {
            "is_staff": ["true"],
            "is_superuser": ["true"],
            "password": ["x"],
            "username": ["admin"],
            "Email": ["mallory@example.com"],
        }
        user = self.assertSignedIn(
            self.idp_initiated(self.idp_a, "idp-a", name_id="mallory", attributes=attributes)
        )
        self.assertFalse(user.is_staff)
        self.assertFalse(user.is_superuser)
        self.assertFalse(user.has_usable_password())
        self.assertNotEqual(user.username, "admin")

    def test_common_attribute_names_are_understood(self):
        cases = {
            "okta": {"FirstName": ["Ann"], "LastName": ["Lee"], "Email": ["ann@example.com"]},
            "ldap": {"givenName": ["Ann"], "sn": ["Lee"], "mail": ["ann@example.com"]},
            "camel": {"firstName": ["Ann"], "lastName": ["Lee"], "email": ["ann@example.com"]},
            "claims": {
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": ["Ann"],
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname": ["Lee"],
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": [
                    "ann@example.com"
                ],
            },
        }
        for style, attributes in cases.items():
            with self.subTest(style=style):
                self.client.logout()
                user = self.assertSignedIn(
                    self.idp_initiated(self.idp_a, "idp-a", name_id=style, attributes=attributes)
                )
                self.assertEqual(
                    (user.first_name, user.last_name, user.email), ("Ann", "Lee", "ann@example.com")
                )

    def test_missing_attributes_still_sign_in(self):
        user = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a", attributes={}))
        self.assertEqual((user.first_name, user.email), ("", ""))
        self.assertEqual(user.username, "alice@example.com")

    def test_overlong_names_are_cut_and_invalid_emails_dropped(self):
        attributes = {"FirstName": ["A" * 500], "Email": ["not an email"]}
        user = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a", attributes=attributes))
        self.assertEqual(len(user.first_name), 150)
        self.assertEqual(user.email, "")


class BackendIssuerTests(SamlTestCase):
    """The policy checks the issuer itself, though the ACS's check (response_checks.check_issuers)
    runs first: a login reaching the backend another way must not slip through."""

    def test_an_assertion_issued_by_another_idp_is_refused_by_the_policy(self):
        with self.assertRaisesMessage(LoginRefused, "was not issued by IdP") as refused:
            identity_policy().user_for(
                self.row_a, "alice@example.com", "alice@example.com", self.row_b.entity_id, True
            )
        self.assertEqual(refused.exception.code, "issuer_mismatch")
        self.assertFalse(User.objects.exists())


class BackendCallerTests(SamlTestCase):
    def test_no_one_is_signed_in_without_the_idp_the_response_was_posted_to(self):
        # As djangosaml2's own ACS would call it, in a host project wiring it by mistake.
        session_info = {
            "ava": {"Email": ["alice@example.com"]},
            "name_id": NameID(format=NAMEID_FORMAT_EMAILADDRESS, text="alice@example.com"),
            "issuer": self.row_a.entity_id,
        }
        request = RequestFactory().post("/saml/idp-a/acs/")
        self.assertIsNone(auth.authenticate(request, session_info=session_info))
        self.assertFalse(User.objects.exists())
