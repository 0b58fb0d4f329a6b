"""What an IdP's SCIM requests do to accounts: the SCIM user is the account its SAML NameID signs
in to; profile, groups and deactivation follow the IdP, within the identity policy."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import override_settings

from saml_idps.models import (
    EmailDomain,
    GroupMapping,
    IdentityLink,
    IdentityProvider,
    ProtectedGroup,
    ScimResource,
)
from saml_idps.scim import tokens

from .fixtures import SamlTestCase
from .scim import USER_SCHEMA, ScimClientMixin, patch, scim_user

User = get_user_model()


def okta_active(active):
    """Okta's deactivation and reactivation: a PATCH replace without a path."""
    return patch({"op": "replace", "value": {"active": active}})


class ScimAccountTestCase(ScimClientMixin, SamlTestCase):
    """IdPs A and B of SamlTestCase, both provisioning over SCIM."""

    def setUp(self):
        super().setUp()
        cache.clear()
        IdentityProvider.objects.update(scim_enabled=True)
        self.row_a.refresh_from_db()
        self.token_a, self.token_b = tokens.issue(self.row_a), tokens.issue(self.row_b)

    def sign_in_a(self, name_id="alice@example.com", client=None):
        return self.idp_initiated(
            self.idp_a, "idp-a", client, name_id=name_id, attributes={"Email": [name_id]}
        )

    def post_user(self, user_name, **attributes):
        return self.scim("POST", "/Users", scim_user(user_name, **attributes))

    def account(self, resource):
        return ScimResource.objects.get(scim_id=resource["id"]).link.user

    def set_active(self, resource, active):
        response = self.scim("PATCH", f"/Users/{resource['id']}", okta_active(active))
        self.assertEqual(response.status_code, 200, response.content)

    def assertSessionEnded(self):
        self.client.get("/")
        self.assertNotIn("_auth_user_id", self.client.session)

    def assertNothingWritten(self):
        self.assertFalse(ScimResource.objects.exists())
        self.assertFalse(IdentityLink.objects.exists())


class ProvisioningTests(ScimAccountTestCase):
    def test_a_provisioned_user_gets_an_account_linked_to_its_user_name(self):
        alice = self.create_user(
            "alice@example.com",
            name={"givenName": "Alice", "familyName": "Doe"},
            emails=[{"value": "alice@example.com", "primary": True}],
        )
        account = self.account(alice)
        self.assertEqual(
            (account.username, account.first_name, account.last_name, account.email),
            ("alice@example.com", "Alice", "Doe", "alice@example.com"),
        )
        self.assertFalse(account.has_usable_password())
        self.assertTrue(
            IdentityLink.objects.filter(
                identity_provider=self.row_a, name_id="alice@example.com", user=account
            ).exists()
        )

    def test_the_first_saml_sign_in_lands_in_the_provisioned_account(self):
        account = self.account(self.create_user("alice@example.com"))
        self.assertSignedIn(self.sign_in_a(), account)
        self.assertEqual(User.objects.count(), 1)

    def test_the_user_name_is_compared_as_a_name_id_is(self):
        account = self.account(self.create_user(" Alice@Example.COM "))
        self.assertSignedIn(self.sign_in_a("alice@example.com"), account)

    def test_provisioning_creates_users_even_when_first_logins_do_not(self):
        self.row_a.create_users = False
        self.row_a.save()
        self.assertTrue(self.account(self.create_user("alice@example.com")).is_active)

    def test_an_account_a_login_already_linked_is_adopted(self):
        account = self.assertSignedIn(self.sign_in_a())
        self.assertEqual(self.account(self.create_user("alice@example.com")), account)

    def test_the_external_id_can_be_the_name_id(self):
        self.row_a.scim_user_identifier = IdentityProvider.ScimUserIdentifier.EXTERNAL_ID
        self.row_a.save()
        account = self.account(self.create_user("alice@example.com", externalId="00u1a2b3"))
        self.assertSignedIn(self.sign_in_a("00u1a2b3"), account)

    def test_a_user_without_the_chosen_identifier_is_refused(self):
        self.row_a.scim_user_identifier = IdentityProvider.ScimUserIdentifier.EXTERNAL_ID
        self.row_a.save()
        response = self.scim(
            "POST",
            "/Users",
            {"schemas": [USER_SCHEMA], "userName": "alice"},
        )
        self.assertScimError(response, 400)
        self.assertIn("externalId", response.json["detail"])
        self.assertNothingWritten()

    def test_profile_changes_follow_a_patch(self):
        alice = self.create_user("alice@example.com", name={"givenName": "Alice"})
        self.scim(
            "PATCH",
            f"/Users/{alice['id']}",
            patch({"op": "replace", "path": "name.givenName", "value": "Alicia"}),
        )
        self.assertEqual(self.account(alice).first_name, "Alicia")

    @override_settings(SAML_IDPS_POLICY="tests.policies.NamesOnlyPolicy")
    def test_only_the_fields_the_policy_lets_an_idp_assign_are_set(self):
        alice = self.create_user(
            "alice@example.com",
            name={"givenName": "Alice"},
            emails=[{"value": "alice@example.com", "primary": True}],
        )
        self.assertEqual((self.account(alice).first_name, self.account(alice).email), ("Alice", ""))

    def test_an_invalid_email_is_dropped_not_stored(self):
        alice = self.create_user("alice@example.com", emails=[{"value": "not an email"}])
        self.assertEqual(self.account(alice).email, "")

    def test_a_renamed_user_keeps_its_account_under_the_new_name_id(self):
        alice = self.create_user("alice@example.com")
        account = self.account(alice)
        self.scim(
            "PATCH",
            f"/Users/{alice['id']}",
            patch({"op": "replace", "path": "userName", "value": "alice.doe@example.com"}),
        )
        self.assertSignedIn(self.sign_in_a("alice.doe@example.com"), account)

    def test_a_rename_onto_another_accounts_name_id_is_refused_and_changes_nothing(self):
        self.assertSignedIn(self.sign_in_a("bob@example.com"))
        self.client.logout()
        alice = self.create_user("alice@example.com")
        response = self.scim(
            "PUT",
            f"/Users/{alice['id']}",
            {
                "schemas": [USER_SCHEMA],
                "userName": "bob@example.com",
                "name": {"givenName": "Mallory"},
            },
        )
        self.assertScimError(response, 409)
        account = self.account(alice)
        self.assertEqual(
            (account.first_name, account.saml_identities.get().name_id), ("", "alice@example.com")
        )

    def test_the_audit_log_says_what_changed_in_the_account(self):
        alice = self.create_user("alice@example.com")
        self.set_active(alice, False)
        self.assertIn("alice@example.com: deactivated", self.row_a.scim_events.first().detail)


class PrivilegeTests(ScimAccountTestCase):
    def test_an_idp_cannot_take_over_another_idps_user_by_its_user_name(self):
        self.assertSignedIn(self.idp_initiated(self.idp_b, "idp-b", name_id="alice@example.com"))
        account_b = IdentityLink.objects.get(identity_provider=self.row_b).user
        self.assertNotEqual(self.account(self.create_user("alice@example.com")), account_b)

    def test_a_local_account_of_the_same_name_is_not_reached(self):
        root = User.objects.create_superuser("root", "root@example.com", "s3cret-pass")
        account = self.account(self.create_user("root"))
        self.assertNotEqual(account, root)
        self.assertFalse(account.is_staff or account.is_superuser)

    def test_a_privileged_account_with_the_email_is_not_linked_and_nothing_is_written(self):
        User.objects.create_superuser("root", "root@example.com", "s3cret-pass")
        EmailDomain.objects.create(identity_provider=self.row_a, domain="example.com")
        response = self.post_user("root@example.com", emails=[{"value": "root@example.com"}])
        self.assertScimError(response, 409)
        self.assertNothingWritten()

    def test_an_email_outside_the_idps_domains_is_refused(self):
        EmailDomain.objects.create(identity_provider=self.row_a, domain="example.com")
        response = self.post_user("eve@elsewhere.test", emails=[{"value": "eve@elsewhere.test"}])
        self.assertScimError(response, 400)
        self.assertNothingWritten()

    def test_staff_and_superuser_attributes_are_refused(self):
        response = self.post_user("alice@example.com", is_staff=True, is_superuser=True)
        self.assertScimError(response, 400)
        self.assertNothingWritten()

    def test_admin_roles_and_user_types_grant_nothing(self):
        alice = self.create_user(
            "alice@example.com",
            userType="admin",
            roles=[{"value": "superuser", "primary": True}],
            entitlements=[{"value": "staff"}],
        )
        account = self.account(alice)
        self.assertFalse(account.is_staff or account.is_superuser)


class GroupPushTests(ScimAccountTestCase):
    def setUp(self):
        super().setUp()
        self.engineering = Group.objects.create(name="engineering")
        GroupMapping.objects.create(
            identity_provider=self.row_a, value="Engineering", group=self.engineering
        )
        self.alice = self.create_user("alice@example.com")

    def add(self, path, resource):
        value = [{"value": resource["id"]}]
        self.scim("PATCH", path, patch({"op": "add", "path": "members", "value": value}))

    def remove(self, path, resource):
        selector = f'members[value eq "{resource["id"]}"]'
        self.scim("PATCH", path, patch({"op": "remove", "path": selector}))

    def groups(self, resource):
        return list(self.account(resource).groups.all())

    def test_a_pushed_group_grants_its_mapped_django_group(self):
        self.create_group("ENGINEERING", self.alice["id"])
        self.assertEqual(self.groups(self.alice), [self.engineering])

    def test_a_member_added_later_gets_it_and_one_removed_loses_it(self):
        path = self.create_group("Engineering")
        self.add(path, self.alice)
        self.assertEqual(self.groups(self.alice), [self.engineering])
        self.remove(path, self.alice)
        self.assertEqual(self.groups(self.alice), [])

    def test_a_deleted_group_takes_its_mapped_group_back(self):
        path = self.create_group("Engineering", self.alice["id"])
        self.scim("DELETE", path)
        self.assertEqual(self.groups(self.alice), [])

    def test_a_renamed_group_grants_what_its_new_name_maps_to(self):
        path = self.create_group("Interns", self.alice["id"])
        self.scim(
            "PATCH", path, patch({"op": "replace", "path": "displayName", "value": "Engineering"})
        )
        self.assertEqual(self.groups(self.alice), [self.engineering])

    def test_an_unmapped_group_grants_nothing(self):
        self.create_group("Admins", self.alice["id"])
        account = self.account(self.alice)
        self.assertEqual(list(account.groups.all()), [])
        self.assertFalse(account.is_staff or account.is_superuser)

    def test_staff_comes_only_from_an_explicit_mapping_and_goes_with_it(self):
        GroupMapping.objects.create(identity_provider=self.row_a, value="Admins", grants_staff=True)
        path = self.create_group("Admins", self.alice["id"])
        self.assertTrue(self.account(self.alice).is_staff)
        self.remove(path, self.alice)
        self.assertFalse(self.account(self.alice).is_staff)

    def test_a_protected_group_is_never_taken_back(self):
        ProtectedGroup.objects.create(group=self.engineering)
        path = self.create_group("Engineering", self.alice["id"])
        self.remove(path, self.alice)
        self.assertEqual(self.groups(self.alice), [self.engineering])

    def test_the_audit_log_says_which_groups_were_granted_and_taken_back(self):
        path = self.create_group("Engineering", self.alice["id"])
        self.remove(path, self.alice)
        details = list(self.row_a.scim_events.order_by("pk").values_list("detail", flat=True))
        self.assertIn("alice@example.com: groups +engineering", details[-2])
        self.assertIn("alice@example.com: groups -engineering", details[-1])

    def test_a_deactivated_member_is_granted_nothing(self):
        self.set_active(self.alice, False)
        self.create_group("Engineering", self.alice["id"])
        self.assertEqual(self.groups(self.alice), [])

    def test_a_moved_link_is_out_of_reach_of_the_idps_groups(self):
        account = self.account(self.alice)
        IdentityLink.objects.update(identity_provider=self.row_b)
        self.create_group("Engineering", self.alice["id"])
        self.assertEqual(list(account.groups.all()), [])

    def test_django_groups_not_mapped_are_left_alone(self):
        local = Group.objects.create(name="local")
        self.account(self.alice).groups.add(local)
        path = self.create_group("Engineering", self.alice["id"])
        self.remove(path, self.alice)
        self.assertEqual(self.groups(self.alice), [local])


class DeactivationTests(ScimAccountTestCase):
    def test_a_deactivated_user_cannot_sign_in_through_the_idp(self):
        alice = self.create_user("alice@example.com")
        self.set_active(alice, False)
        self.assertRefused(self.sign_in_a(), "deactivated", "has deactivated your access")
        self.assertFalse(self.account(alice).is_active)

    def test_entra_ids_string_false_deactivates_too(self):
        alice = self.create_user("alice@example.com")
        self.scim(
            "PATCH",
            f"/Users/{alice['id']}",
            patch({"op": "Replace", "path": "active", "value": "False"}),
        )
        self.assertRefused(self.sign_in_a(), "deactivated")

    def test_a_user_provisioned_inactive_cannot_sign_in(self):
        self.create_user("alice@example.com", active=False)
        self.assertRefused(self.sign_in_a(), "deactivated")

    def test_a_session_opened_before_ends_at_its_next_request(self):
        alice = self.create_user("alice@example.com")
        self.assertSignedIn(self.sign_in_a())
        self.set_active(alice, False)
        self.assertSessionEnded()

    def test_a_reactivated_user_signs_in_to_the_same_account(self):
        alice = self.create_user("alice@example.com")
        self.set_active(alice, False)
        self.set_active(alice, True)
        self.assertSignedIn(self.sign_in_a(), self.account(alice))

    def test_an_account_with_a_password_is_only_cut_from_the_idp(self):
        alice = self.create_user("alice@example.com")
        account = self.account(alice)
        account.set_password("her-own-password")
        account.save()
        self.assertSignedIn(self.sign_in_a())
        self.set_active(alice, False)
        self.assertSessionEnded()
        self.assertTrue(User.objects.get(pk=account.pk).is_active)
        self.assertTrue(self.client.login(username=account.username, password="her-own-password"))

    def test_a_staff_account_is_only_cut_from_the_idp(self):
        alice = self.create_user("alice@example.com")
        User.objects.filter(pk=self.account(alice).pk).update(is_staff=True)
        self.set_active(alice, False)
        self.assertTrue(self.account(alice).is_active)
        self.assertRefused(self.sign_in_a(), "deactivated")

    def test_an_account_linked_to_another_idp_is_only_cut_from_this_one(self):
        alice = self.create_user("alice@example.com")
        IdentityLink.objects.create(
            identity_provider=self.row_b, name_id="alice@example.com", user=self.account(alice)
        )
        self.set_active(alice, False)
        self.assertTrue(self.account(alice).is_active)
        self.assertSignedIn(
            self.idp_initiated(self.idp_b, "idp-b", name_id="alice@example.com"),
            self.account(alice),
        )

    def test_a_session_through_another_idp_survives(self):
        alice = self.create_user("alice@example.com")
        IdentityLink.objects.create(
            identity_provider=self.row_b, name_id="alice@example.com", user=self.account(alice)
        )
        self.assertSignedIn(self.idp_initiated(self.idp_b, "idp-b", name_id="alice@example.com"))
        self.set_active(alice, False)
        self.client.get("/")
        self.assertIn("_auth_user_id", self.client.session)

    def test_a_put_leaving_active_out_does_not_reactivate(self):
        alice = self.create_user("alice@example.com")
        self.set_active(alice, False)
        self.scim(
            "PUT",
            f"/Users/{alice['id']}",
            {"schemas": [USER_SCHEMA], "userName": "alice@example.com"},
        )
        self.assertRefused(self.sign_in_a(), "deactivated")

    def test_a_session_ends_when_its_own_link_is_cut_whatever_other_links_there_are(self):
        alice = self.create_user("alice@example.com")
        IdentityLink.objects.create(
            identity_provider=self.row_a, name_id="alice.alias", user=self.account(alice)
        )
        self.assertSignedIn(self.sign_in_a())
        self.set_active(alice, False)
        self.assertSessionEnded()

    def test_a_deactivated_member_loses_what_the_idps_groups_granted_until_reactivated(self):
        GroupMapping.objects.create(identity_provider=self.row_a, value="Admins", grants_staff=True)
        alice = self.create_user("alice@example.com")
        self.create_group("Admins", alice["id"])
        self.set_active(alice, False)
        self.assertEqual(
            (self.account(alice).is_active, self.account(alice).is_staff), (False, False)
        )
        self.set_active(alice, True)
        self.assertEqual(
            (self.account(alice).is_active, self.account(alice).is_staff), (True, True)
        )

    def test_after_a_reactivation_an_admin_deactivating_the_account_has_the_last_word(self):
        alice = self.create_user("alice@example.com")
        self.set_active(alice, False)
        self.set_active(alice, True)
        User.objects.filter(pk=self.account(alice).pk).update(is_active=False)
        self.set_active(alice, False)
        self.set_active(alice, True)
        self.assertFalse(self.account(alice).is_active)

    def test_reactivation_leaves_an_account_an_admin_deactivated(self):
        alice = self.create_user("alice@example.com")
        User.objects.filter(pk=self.account(alice).pk).update(is_active=False)
        self.set_active(alice, False)
        self.set_active(alice, True)
        self.assertFalse(self.account(alice).is_active)


class DeletionTests(ScimAccountTestCase):
    def test_a_deleted_users_account_is_cut_and_deactivated_not_deleted(self):
        alice = self.create_user("alice@example.com")
        account = self.account(alice)
        self.assertSignedIn(self.sign_in_a())
        self.scim("DELETE", f"/Users/{alice['id']}")
        self.assertSessionEnded()
        self.assertFalse(User.objects.get(pk=account.pk).is_active)
        self.assertRefused(self.sign_in_a(), "deactivated")

    def test_a_user_provisioned_again_gets_its_account_back(self):
        alice = self.create_user("alice@example.com")
        account = self.account(alice)
        self.scim("DELETE", f"/Users/{alice['id']}")
        self.assertEqual(self.account(self.create_user("alice@example.com")), account)
        self.assertSignedIn(self.sign_in_a(), account)

    def test_a_deleted_superuser_keeps_its_account_active(self):
        alice = self.create_user("alice@example.com")
        User.objects.filter(pk=self.account(alice).pk).update(is_superuser=True)
        pk = self.account(alice).pk
        self.scim("DELETE", f"/Users/{alice['id']}")
        self.assertTrue(User.objects.get(pk=pk).is_active)
        self.assertFalse(IdentityLink.objects.filter(user_id=pk, deactivated_at=None).exists())

    def test_a_deleted_user_loses_what_the_idps_groups_granted(self):
        GroupMapping.objects.create(identity_provider=self.row_a, value="Admins", grants_staff=True)
        alice = self.create_user("alice@example.com")
        account = self.account(alice)
        account.set_password("her-own-password")
        account.save()
        self.create_group("Admins", alice["id"])
        self.scim("DELETE", f"/Users/{alice['id']}")
        account.refresh_from_db()
        self.assertEqual((account.is_active, account.is_staff), (True, False))

    def test_a_link_an_admin_gives_to_another_account_ends_the_session(self):
        self.assertSignedIn(self.sign_in_a())
        IdentityLink.objects.update(user=User.objects.create_user("bob"))
        self.assertSessionEnded()

    def test_an_admin_removing_the_link_ends_the_session_too(self):
        self.assertSignedIn(self.sign_in_a())
        IdentityLink.objects.all().delete()
        self.assertSessionEnded()


class MovedLinkTests(ScimAccountTestCase):
    def test_a_link_an_admin_moved_to_another_idp_is_out_of_reach(self):
        alice = self.create_user("alice@example.com")
        moved = IdentityLink.objects.get()
        IdentityLink.objects.filter(pk=moved.pk).update(identity_provider=self.row_b)
        self.scim(
            "PATCH",
            f"/Users/{alice['id']}",
            patch({"op": "replace", "value": {"userName": "ceo@example.com", "active": False}}),
        )
        moved.refresh_from_db()
        self.assertEqual((moved.name_id, moved.deactivated_at), ("alice@example.com", None))
        self.assertNotEqual(self.account(alice), moved.user)
