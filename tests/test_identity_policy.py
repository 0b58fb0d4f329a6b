"""Per-IdP identity policy: linking, provisioning, email domains, normalisation, and the
account takeover attempts it must stop."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import SimpleTestCase, override_settings
from saml2.saml import NameID

from saml_idps.models import EmailDomain, IdentityLink, LoginAttempt
from saml_idps.policy import USERNAME_ATTEMPTS, IdentityPolicy
from saml_idps.refusals import LoginRefused

from .fixtures import SamlTestCase
from .policies import PerIdentityProviderPolicy, UsernameTakenMeanwhilePolicy

User = get_user_model()


class PolicyTestCase(SamlTestCase):
    def allow_domains(self, row, *domains):
        for domain in domains:
            EmailDomain.objects.create(identity_provider=row, domain=domain)

    def sign_in_a(self, name_id="alice@example.com", email="alice@example.com", **attributes):
        return self.idp_initiated(
            self.idp_a, "idp-a", name_id=name_id, attributes={"Email": [email], **attributes}
        )

    def assertRefusedFor(self, response, code, fragment):
        self.assertRefused(response, code, fragment)


class TakeoverTests(PolicyTestCase):
    def test_idp_b_asserting_the_name_id_of_a_user_linked_to_idp_a_gets_another_user(self):
        user_a = self.assertSignedIn(self.sign_in_a())
        self.client.logout()
        user_b = self.assertSignedIn(
            self.idp_initiated(self.idp_b, "idp-b", name_id="alice@example.com")
        )
        self.assertNotEqual(user_a, user_b)

    def test_idp_b_with_the_email_domain_cannot_take_over_a_user_linked_to_idp_a(self):
        user_a = self.assertSignedIn(self.sign_in_a())
        self.client.logout()
        self.allow_domains(self.row_b, "example.com")
        response = self.idp_initiated(
            self.idp_b, "idp-b", name_id="mallory", attributes={"Email": ["alice@example.com"]}
        )
        self.assertRefusedFor(response, "link_requires_admin", "not linked to IdP")
        self.assertFalse(IdentityLink.objects.filter(identity_provider=self.row_b).exists())
        self.assertEqual(user_a.saml_identities.count(), 1)

    def test_an_idp_asserting_the_local_superusers_email_in_its_domain_is_refused(self):
        root = User.objects.create_superuser("root", "root@example.com", "s3cret-pass")
        self.allow_domains(self.row_a, "example.com")
        response = self.sign_in_a(name_id="root", email="ROOT@example.com")
        self.assertRefusedFor(response, "link_requires_admin", "an admin can link it")
        self.assertFalse(root.saml_identities.exists())

    def test_an_idp_asserting_the_local_superusers_username_gets_another_user(self):
        root = User.objects.create_superuser("root", "root@example.com", "s3cret-pass")
        user = self.assertSignedIn(self.sign_in_a(name_id="root", email="root@example.com"))
        self.assertNotEqual(user, root)
        self.assertFalse(user.is_superuser or user.is_staff)

    def test_a_superuser_without_a_password_is_not_linked_automatically(self):
        root = User.objects.create_user("root", "root@example.com", is_superuser=True)
        self.assertFalse(root.has_usable_password() or root.is_staff)
        self.allow_domains(self.row_a, "example.com")
        response = self.sign_in_a(name_id="root", email="root@example.com")
        self.assertRefusedFor(response, "link_requires_admin", "an admin can link it")

    def test_an_account_with_a_usable_password_is_not_linked_automatically(self):
        User.objects.create_user("alice", "alice@example.com", "her-own-password")
        self.allow_domains(self.row_a, "example.com")
        self.assertRefusedFor(self.sign_in_a(), "link_requires_admin", "already exists here")

    def test_a_staff_account_is_not_linked_automatically(self):
        staff = User.objects.create_user("alice", "alice@example.com", is_staff=True)
        staff.set_unusable_password()
        staff.save()
        self.allow_domains(self.row_a, "example.com")
        self.assertRefusedFor(self.sign_in_a(), "link_requires_admin", "already exists here")


class EmailDomainTests(PolicyTestCase):
    def test_an_email_outside_the_idps_domains_is_refused_and_nothing_is_stored(self):
        self.allow_domains(self.row_a, "acme.com")
        response = self.sign_in_a()
        self.assertRefusedFor(response, "email_domain_not_allowed", "at acme.com")
        self.assertFalse(User.objects.exists())
        self.assertFalse(IdentityLink.objects.exists())

    def test_an_assertion_without_email_is_refused_when_the_idp_has_domains(self):
        self.allow_domains(self.row_a, "acme.com")
        response = self.idp_initiated(self.idp_a, "idp-a", attributes={"FirstName": ["A"]})
        self.assertRefusedFor(response, "email_domain_not_allowed", "it asserted none")

    def test_an_email_inside_the_domains_creates_a_user(self):
        self.allow_domains(self.row_a, "acme.com")
        user = self.assertSignedIn(self.sign_in_a(name_id="bob@acme.com", email="Bob@ACME.com"))
        self.assertEqual(user.email, "bob@acme.com")

    def test_an_unprivileged_preprovisioned_account_in_the_domain_is_linked(self):
        provisioned = User.objects.create_user("bob", "bob@acme.com")  # no usable password
        self.allow_domains(self.row_a, "acme.com")
        user = self.assertSignedIn(self.sign_in_a(name_id="bob@acme.com", email="bob@acme.com"))
        self.assertEqual(user, provisioned)
        self.assertTrue(IdentityLink.objects.filter(user=provisioned).exists())

    def test_two_accounts_with_the_asserted_email_are_left_to_an_admin(self):
        # Which of them would be the person? Neither is linked automatically.
        self.allow_domains(self.row_a, "example.com")
        for username in ("alice", "alice2"):
            user = User.objects.create_user(username, email="alice@example.com")
            user.set_unusable_password()
            user.save()
        self.assertRefusedFor(self.sign_in_a(), "link_requires_admin", "already exists here")
        self.assertFalse(IdentityLink.objects.exists())

    def test_domains_are_normalised_and_checked(self):
        domain = EmailDomain(identity_provider=self.row_a, domain="  @ACME.com ")
        domain.full_clean()
        self.assertEqual(domain.domain, "acme.com")
        with self.assertRaises(ValidationError):
            EmailDomain(identity_provider=self.row_a, domain="not a domain").full_clean()


class ProvisioningTests(PolicyTestCase):
    def test_a_new_users_username_comes_from_the_email_not_an_opaque_name_id(self):
        # Okta's persistent NameID is an id such as 00u1a2b3c4; people know their email.
        user = self.assertSignedIn(self.sign_in_a(name_id="00u1a2b3c4", email="carol@example.com"))
        self.assertEqual(user.username, "carol@example.com")

    def test_without_user_creation_an_unknown_identity_is_refused(self):
        self.row_a.create_users = False
        self.row_a.save()
        self.assertRefusedFor(self.sign_in_a(), "provisioning_disabled", "does not create accounts")
        self.assertFalse(User.objects.exists())

    @override_settings(SAML_CREATE_UNKNOWN_USER=False)
    def test_djangosaml2s_create_unknown_user_setting_off_turns_creation_off_for_every_idp(self):
        self.assertTrue(self.row_a.create_users)
        self.assertRefusedFor(self.sign_in_a(), "provisioning_disabled", "does not create accounts")
        self.assertFalse(User.objects.exists())

    def test_without_user_creation_a_linked_user_still_signs_in(self):
        bob = User.objects.create_user("bob")
        IdentityLink.objects.create(
            identity_provider=self.row_a, name_id="bob@example.com", user=bob
        )
        self.row_a.create_users = False
        self.row_a.save()
        self.assertSignedIn(self.sign_in_a(name_id="bob@example.com"), user=bob)

    def test_an_inactive_user_gets_a_clear_page(self):
        user = self.assertSignedIn(self.sign_in_a())
        self.client.logout()
        User.objects.filter(pk=user.pk).update(is_active=False)
        self.assertRefusedFor(self.sign_in_a(), "inactive_user", "has been deactivated")

    def test_a_disabled_idp_gets_a_clear_page(self):
        self.row_a.enabled = False
        self.row_a.save()
        response = self.sign_in_a()
        self.assertContains(response, "is turned off", status_code=404)
        self.assertEqual(LoginAttempt.objects.get().reason, "idp_disabled")


class AcceptedNameIdTests(SimpleTestCase):
    def test_a_name_id_without_text_names_no_one(self):
        for text in (None, "", " \n "):
            with self.subTest(text=text), self.assertRaises(LoginRefused) as refused:
                IdentityPolicy().check_name_id(None, NameID(text=text))
            self.assertEqual(refused.exception.code, "no_name_id")


class CreateUserRaceTests(PolicyTestCase):
    """create_user after another sign-in got in first (one connection; the real concurrent
    transactions are in tests/test_concurrent_logins.py, on PostgreSQL)."""

    def test_a_link_made_meanwhile_by_the_same_subjects_first_login_is_its_account(self):
        first = User.objects.create_user("alice")
        IdentityLink.objects.create(identity_provider=self.row_a, name_id="alice", user=first)
        user = IdentityPolicy().create_user(self.row_a, "alice", "alice@example.com")
        self.assertEqual(user, first)
        self.assertEqual(User.objects.count(), 1)

    def test_a_username_taken_meanwhile_is_chosen_again(self):
        User.objects.create_user("bob")
        policy = UsernameTakenMeanwhilePolicy("bob", times=1)
        user = policy.create_user(self.row_a, "alice", "alice@example.com")
        self.assertEqual(user.username, "alice@example.com")
        self.assertEqual(user.saml_identities.get().identity_provider, self.row_a)

    def test_a_username_taken_on_every_attempt_is_refused_as_a_conflict(self):
        User.objects.create_user("bob")
        policy = UsernameTakenMeanwhilePolicy("bob", times=USERNAME_ATTEMPTS)
        with self.assertRaises(LoginRefused) as refused:
            policy.create_user(self.row_a, "alice", "alice@example.com")
        self.assertEqual(
            (refused.exception.code, refused.exception.status), ("account_conflict", 409)
        )
        self.assertEqual(User.objects.count(), 1)
        self.assertFalse(IdentityLink.objects.exists())


class NormalisationTests(PolicyTestCase):
    def test_email_like_name_ids_match_whatever_their_case_width_and_spaces(self):
        first = self.assertSignedIn(self.sign_in_a(name_id="alice@example.com"))
        self.client.logout()
        # Fullwidth letters (NFKC), other case, surrounding space: the same person.
        second = self.assertSignedIn(self.sign_in_a(name_id=" ＡＬＩＣＥ@Example.com "))
        self.assertEqual(first, second)

    def test_opaque_name_ids_keep_their_case(self):
        first = self.assertSignedIn(self.sign_in_a(name_id="00uAbC123"))
        self.client.logout()
        second = self.assertSignedIn(self.sign_in_a(name_id="00uabc123"))
        self.assertNotEqual(first, second)

    def test_attribute_values_are_normalised(self):
        user = self.assertSignedIn(
            self.idp_initiated(
                self.idp_a,
                "idp-a",
                attributes={"FirstName": ["  Ａlice "], "Email": [" Alice@Example.COM "]},
            )
        )
        self.assertEqual((user.first_name, user.email), ("Alice", "alice@example.com"))


class HostPolicyTests(PolicyTestCase):
    """A host project's IdentityPolicy subclass, named in SAML_IDPS_POLICY, decides."""

    @override_settings(SAML_IDPS_POLICY="tests.policies.ApprovedAccountsPolicy")
    def test_new_users_can_be_created_inactive(self):
        response = self.sign_in_a()
        self.assertRefused(response, "not_authenticated")
        user = User.objects.get(saml_identities__name_id="alice@example.com")
        self.assertFalse(user.is_active)
        user.is_active = True  # an admin approves the account
        user.save()
        self.assertSignedIn(self.sign_in_a(), user)

    @override_settings(SAML_IDPS_POLICY="tests.policies.NeverLinkAutomaticallyPolicy")
    def test_automatic_linking_can_be_turned_off(self):
        self.allow_domains(self.row_a, "example.com")
        existing = User.objects.create_user("alice", email="alice@example.com")
        existing.set_unusable_password()
        existing.save()
        self.assertRefusedFor(self.sign_in_a(), "link_requires_admin", "already exists here")
        self.assertFalse(existing.saml_identities.exists())

    def test_the_default_policy_links_that_account(self):
        self.allow_domains(self.row_a, "example.com")
        existing = User.objects.create_user("alice", email="alice@example.com")
        existing.set_unusable_password()
        existing.save()
        self.assertSignedIn(self.sign_in_a(), existing)


class UserForTests(PolicyTestCase):
    """IdentityPolicy.user_for called directly: the user, and whether it was created."""

    def user_for(self, row, name_id="alice@example.com", policy=None):
        return (policy or IdentityPolicy()).user_for(
            row, name_id, "alice@example.com", row.entity_id, may_create=True
        )

    def existing_alice(self):
        user = User.objects.create_user("alice", email="alice@example.com")
        user.set_unusable_password()
        user.save()
        return user

    def test_a_first_login_creates_the_user_and_the_next_finds_it(self):
        user, created = self.user_for(self.row_a)
        self.assertTrue(created)
        self.assertEqual(self.user_for(self.row_a), (user, False))

    def test_an_account_linked_automatically_is_not_created(self):
        self.allow_domains(self.row_a, "example.com")
        existing = self.existing_alice()
        self.assertEqual(self.user_for(self.row_a), (existing, False))

    def test_a_refusal_names_the_idp(self):
        self.row_a.create_users = False
        with self.assertRaisesMessage(LoginRefused, f"IdP '{self.row_a.name}'"):
            self.user_for(self.row_a)

    def test_a_host_policy_may_link_automatically_for_one_idp_only(self):
        policy = PerIdentityProviderPolicy()
        existing = self.existing_alice()
        self.allow_domains(self.row_b, "example.com")
        with self.assertRaises(LoginRefused) as refused:
            self.user_for(self.row_b, policy=policy)
        self.assertEqual(refused.exception.code, "link_requires_admin")
        EmailDomain.objects.filter(domain="example.com").update(identity_provider=self.row_a)
        self.assertEqual(self.user_for(self.row_a, policy=policy), (existing, False))

    def test_a_host_policy_makes_new_users_knowing_the_idp(self):
        user, _ = self.user_for(self.row_b, policy=PerIdentityProviderPolicy())
        self.assertEqual(user.last_name, f"(from {self.row_b.name})")


class UniqueUsernameTests(PolicyTestCase):
    def unique_username(self, base):
        return IdentityPolicy().unique_username(base)

    def test_it_is_the_base_in_lower_case_without_unsafe_characters(self):
        self.assertEqual(self.unique_username("Jane Doe/<x>@Example.com"), "janedoex@example.com")

    def test_a_base_with_nothing_usable_becomes_user(self):
        self.assertEqual(self.unique_username("<>/ "), "user")

    def test_a_long_base_leaves_room_for_a_counter(self):
        max_length = User._meta.get_field("username").max_length
        first = self.unique_username("a" * max_length)
        self.assertEqual(first, "a" * (max_length - 6))
        User.objects.create_user(first)
        self.assertEqual(self.unique_username("a" * max_length), first + "2")
