"""Per-IdP attribute mapping and group mapping, and the admin that edits them."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from saml_idps.models import GroupMapping, ProtectedGroup
from saml_idps.presets import PRESETS

from .fixtures import SamlTestCase, admin_change_data

User = get_user_model()


class GroupMappingTests(SamlTestCase):
    def setUp(self):
        super().setUp()
        self.engineering = Group.objects.create(name="engineering")
        self.sales = Group.objects.create(name="sales")
        GroupMapping.objects.create(
            identity_provider=self.row_a, value="engineering", group=self.engineering
        )
        GroupMapping.objects.create(identity_provider=self.row_a, value="Sales", group=self.sales)

    def sign_in(self, *groups):
        self.client.logout()
        attributes = {"Email": ["alice@example.com"], "groups": list(groups)}
        return self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a", attributes=attributes))

    def test_asserted_values_grant_their_mapped_groups_regardless_of_case(self):
        user = self.sign_in("Everyone", "Engineering")
        self.assertEqual(list(user.groups.all()), [self.engineering])

    def test_groups_no_longer_asserted_stay_unless_removal_is_chosen(self):
        user = self.sign_in("Engineering")
        self.sign_in("Sales")
        self.assertEqual(set(user.groups.all()), {self.engineering, self.sales})

    def test_groups_no_longer_asserted_are_removed_when_chosen(self):
        self.row_a.remove_unasserted_groups = True
        self.row_a.save()
        user = self.sign_in("Engineering")
        self.sign_in("Sales")
        self.assertEqual(list(user.groups.all()), [self.sales])

    def test_protected_groups_are_never_removed(self):
        self.row_a.remove_unasserted_groups = True
        self.row_a.save()
        ProtectedGroup.objects.create(group=self.engineering)
        user = self.sign_in("Engineering")
        self.sign_in()
        self.assertEqual(list(user.groups.all()), [self.engineering])

    def test_unmapped_groups_of_the_user_are_left_alone(self):
        self.row_a.remove_unasserted_groups = True
        self.row_a.save()
        local = Group.objects.create(name="local")
        user = self.sign_in()
        user.groups.add(local)
        self.sign_in()
        self.assertEqual(list(user.groups.all()), [local])

    def test_a_login_asserting_no_groups_does_not_read_the_mappings(self):
        with CaptureQueriesContext(connection) as queries:
            self.sign_in()
        tables = " ".join(query["sql"] for query in queries.captured_queries)
        self.assertNotIn(GroupMapping._meta.db_table, tables)

    def test_staff_status_only_through_an_explicit_mapping(self):
        self.assertFalse(self.sign_in("Admins").is_staff)
        GroupMapping.objects.create(identity_provider=self.row_a, value="Admins", grants_staff=True)
        user = self.sign_in("Admins")
        self.assertTrue(user.is_staff)
        self.assertFalse(user.is_superuser)

    def test_mapped_staff_status_is_taken_back_with_removal_chosen(self):
        GroupMapping.objects.create(identity_provider=self.row_a, value="Admins", grants_staff=True)
        self.row_a.remove_unasserted_groups = True
        self.row_a.save()
        self.assertTrue(self.sign_in("Admins").is_staff)
        self.assertFalse(self.sign_in("Engineering").is_staff)

    def test_a_mapping_must_grant_something(self):
        with self.assertRaisesMessage(ValidationError, "Choose a group, or staff or superuser"):
            GroupMapping(identity_provider=self.row_a, value="x").full_clean()


class PrivilegedMappingTests(SamlTestCase):
    """Staff and superuser status go to the members of the mapped group, and to no one else."""

    def setUp(self):
        super().setUp()
        GroupMapping.objects.create(
            identity_provider=self.row_a, value="Admins", grants_superuser=True
        )
        GroupMapping.objects.create(identity_provider=self.row_a, value="Ops", grants_staff=True)

    def sign_in(self, name_id, *groups):
        self.client.logout()
        attributes = {"Email": [name_id], "groups": list(groups)}
        response = self.idp_initiated(self.idp_a, "idp-a", name_id=name_id, attributes=attributes)
        return self.assertSignedIn(response)

    def test_a_superuser_mapping_makes_only_its_members_superuser(self):
        member = self.sign_in("root@example.com", "Admins")
        other = self.sign_in("bob@example.com", "Engineering", "Everyone")
        self.assertEqual((member.is_superuser, member.is_staff), (True, False))
        self.assertEqual((other.is_superuser, other.is_staff), (False, False))

    def test_a_staff_mapping_makes_only_its_members_staff(self):
        member = self.sign_in("ops@example.com", "Ops")
        other = self.sign_in("bob@example.com", "Engineering")
        self.assertEqual((member.is_staff, member.is_superuser), (True, False))
        self.assertEqual((other.is_staff, other.is_superuser), (False, False))

    def test_superuser_status_is_taken_back_once_not_asserted_with_removal_chosen(self):
        self.row_a.remove_unasserted_groups = True
        self.row_a.save()
        self.assertTrue(self.sign_in("root@example.com", "Admins").is_superuser)
        self.assertFalse(self.sign_in("root@example.com", "Everyone").is_superuser)

    def test_superuser_status_stays_without_removal_chosen(self):
        self.assertTrue(self.sign_in("root@example.com", "Admins").is_superuser)
        self.assertTrue(self.sign_in("root@example.com", "Everyone").is_superuser)

    def test_a_superuser_mapping_of_another_idp_grants_nothing(self):
        GroupMapping.objects.filter(identity_provider=self.row_a).update(
            identity_provider=self.row_b
        )
        self.assertFalse(self.sign_in("root@example.com", "Admins").is_superuser)


class AttributeMappingTests(SamlTestCase):
    def test_the_idps_own_mapping_is_used(self):
        self.row_a.attribute_mapping = {"givenName": ["first_name"]}
        self.row_a.save()
        attributes = {"givenName": ["Gina"], "FirstName": ["Ignored"], "Email": ["g@example.com"]}
        user = self.assertSignedIn(self.idp_initiated(self.idp_a, "idp-a", attributes=attributes))
        self.assertEqual((user.first_name, user.email), ("Gina", ""))

    def test_a_mapping_onto_privileged_fields_is_refused(self):
        for target in ["is_staff", "is_superuser", "password", "username", "set_password"]:
            with self.subTest(target=target):
                self.row_a.attribute_mapping = {"role": [target]}
                with self.assertRaisesMessage(ValidationError, "Assertions may not set"):
                    self.row_a.full_clean()

    def test_a_mapping_of_the_wrong_shape_is_refused(self):
        for mapping in [["first_name"], {"FirstName": "first_name"}, "x"]:
            with self.subTest(mapping=mapping):
                self.row_a.attribute_mapping = mapping
                with self.assertRaisesMessage(ValidationError, "Write an object of lists"):
                    self.row_a.full_clean()


class AttributeAdminTests(SamlTestCase):
    def setUp(self):
        super().setUp()
        admin = User.objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)
        self.change_url = f"/admin/saml_idps/identityprovider/{self.row_a.pk}/change/"

    def change(self, follow=False, **fields):
        data = admin_change_data(self.row_a, **fields)
        return self.client.post(self.change_url, data, follow=follow)

    def test_a_preset_fills_the_mapping_and_the_groups_attribute(self):
        self.assertEqual(self.change(attribute_preset="entra").status_code, 302)
        self.row_a.refresh_from_db()
        self.assertEqual(self.row_a.attribute_mapping, PRESETS["entra"]["attribute_mapping"])
        self.assertEqual(self.row_a.groups_attribute, PRESETS["entra"]["groups_attribute"])

    def test_riskier_security_choices_show_warnings(self):
        response = self.change(
            allow_sha1="on", clock_skew="500", required_signatures="either", follow=True
        )
        self.assertContains(response, "SHA-1 signatures are accepted")
        self.assertContains(response, "A clock skew of 500 s")
        page = self.client.get(self.change_url)
        self.assertContains(page, "SHA-1 signatures are accepted")

    def test_safe_defaults_show_no_warning_but_idp_initiated(self):
        page = self.client.get(self.change_url)
        self.assertNotContains(page, "SHA-1 signatures are accepted")
        self.assertContains(page, "IdP-initiated login is on")

    def test_mapping_onto_is_staff_is_a_form_error(self):
        response = self.change(attribute_mapping='{"role": ["is_staff"]}')
        self.assertContains(response, "Assertions may not set is_staff")
        self.row_a.refresh_from_db()
        self.assertNotIn("role", self.row_a.attribute_mapping)

    def test_change_page_shows_the_last_assertions_attributes(self):
        self.idp_initiated(self.idp_a, self.row_a.slug, client=Client())  # not the admin's
        page = self.client.get(self.change_url)
        self.assertContains(page, "<code>FirstName</code>", html=False)
        self.assertContains(page, "Everyone, Engineering")

    def test_a_login_asserting_other_attributes_replaces_the_last_assertion_shown(self):
        self.idp_initiated(self.idp_a, self.row_a.slug, client=Client())
        self.idp_initiated(
            self.idp_a, self.row_a.slug, client=Client(), attributes={"Department": ["Sales"]}
        )
        self.row_a.refresh_from_db()
        self.assertEqual(self.row_a.last_assertion_attributes, {"Department": ["Sales"]})

    def test_other_values_of_the_same_attributes_within_a_minute_leave_the_idp_row_alone(self):
        self.idp_initiated(self.idp_a, self.row_a.slug, client=Client())
        self.row_a.refresh_from_db()
        first_seen = self.row_a.last_assertion_at
        bob = {
            "FirstName": ["Bob"],
            "LastName": ["Brown"],
            "Email": ["bob@example.com"],
            "groups": ["Everyone"],
        }
        self.idp_initiated(
            self.idp_a, self.row_a.slug, client=Client(), name_id="bob@example.com", attributes=bob
        )
        self.row_a.refresh_from_db()
        self.assertEqual(self.row_a.last_assertion_at, first_seen)
        self.assertEqual(self.row_a.last_assertion_attributes["FirstName"], ["Alice"])

    def test_values_of_the_last_assertion_can_be_hidden(self):
        self.row_a.show_assertion_values = False
        self.row_a.save()
        self.idp_initiated(self.idp_a, self.row_a.slug, client=Client())  # not the admin's
        page = self.client.get(self.change_url)
        self.assertContains(page, "<code>FirstName</code>", html=False)
        self.assertNotContains(page, "Everyone, Engineering")
        self.assertContains(page, "(hidden)")
