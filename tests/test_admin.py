"""Registering an IdP in the Django admin by its metadata URL or pasted metadata XML."""

import tempfile
from unittest import mock

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import TestCase, override_settings

from saml_idps.models import GroupMapping, IdentityLink, IdentityProvider, MetadataChange

from .fixtures import (
    MetadataServer,
    admin_change_data,
    closed_port_url,
    in_aggregate,
    register,
    shared_idp,
    xml_route,
)

ADD_URL = "/admin/saml_idps/identityprovider/add/"
SP_METADATA = b"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
  entityID="https://sp.example.com"><md:SPSSODescriptor
  protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"""


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class AdminRegistrationTests(TestCase):
    def setUp(self):
        self.idp = shared_idp("idp-a")
        admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)
        self.server = MetadataServer(
            self,
            {
                "/metadata": xml_route(self.idp.metadata_xml),
                "/html": (200, {"Content-Type": "text/html"}, b"<html><body>Hi</body></html>"),
                "/not-xml": (200, {"Content-Type": "text/plain"}, b"this is not XML at all"),
                "/sp": xml_route(SP_METADATA),
                "/down": (500, {}, b"oops"),
            },
        )

    def add(self, **fields):
        return self.client.post(ADD_URL, fields)

    def assertFormError(self, response, fragment):
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "errornote")
        self.assertContains(response, fragment)
        self.assertFalse(IdentityProvider.objects.exists())

    def test_slug_name_and_metadata_url_register_a_working_idp(self):
        response = self.add(
            slug="example-okta-com", name="Okta", metadata_url=self.server.url("/metadata")
        )
        self.assertEqual(response.status_code, 302)
        row = IdentityProvider.objects.get()
        self.assertEqual(row.entity_id, self.idp.entity_id)
        self.assertEqual(row.metadata_xml, self.idp.metadata_xml)
        self.assertTrue(row.enabled and row.allow_idp_initiated)
        self.assertIsNotNone(row.metadata_fetched_at)
        self.assertEqual(self.client.get("/saml/example-okta-com/login/").status_code, 302)

    def test_registration_is_recorded_in_the_metadata_history_shown_on_the_change_page(self):
        self.add(slug="okta", name="Okta", metadata_url=self.server.url("/metadata"))
        row = IdentityProvider.objects.get()
        change = MetadataChange.objects.get(identity_provider=row)
        self.assertEqual(change.source, self.server.url("/metadata"))
        self.assertIn(f"Registered {self.idp.entity_id}.", change.summary)
        self.assertIn("Signing certificate: CN=idp-a", change.summary)
        page = self.client.get(f"/admin/saml_idps/identityprovider/{row.pk}/change/")
        self.assertContains(page, "Metadata changes")
        self.assertContains(page, f"Registered {self.idp.entity_id}.")

    def test_an_idp_is_taken_from_an_aggregate_when_its_entity_id_is_named(self):
        other = shared_idp("idp-b")
        self.server.routes["/federation"] = xml_route(
            '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
            + other.metadata_xml
            + self.idp.metadata_xml
            + "</md:EntitiesDescriptor>"
        )
        url = self.server.url("/federation")
        refused = self.add(slug="fed", name="Fed", metadata_url=url)
        self.assertFormError(refused, "aggregate")
        response = self.add(
            slug="fed", name="Fed", metadata_url=url, aggregate_entity_id=self.idp.entity_id
        )
        self.assertEqual(response.status_code, 302)
        self.assertEqual(IdentityProvider.objects.get().entity_id, self.idp.entity_id)

    def test_an_aggregate_holding_one_idp_registers_without_naming_it(self):
        # Keycloak before v12 publishes its realm's IdP inside an EntitiesDescriptor.
        self.server.routes["/keycloak"] = xml_route(in_aggregate(self.idp.metadata_xml))
        response = self.add(slug="kc", name="Keycloak", metadata_url=self.server.url("/keycloak"))
        self.assertEqual(response.status_code, 302)
        self.assertEqual(IdentityProvider.objects.get().entity_id, self.idp.entity_id)

    def test_signed_metadata_registers_with_a_pinned_certificate_without_the_xmlsec1_program(self):
        signed = self.idp.signed_metadata_xml()
        with mock.patch.dict("os.environ", {"PATH": tempfile.mkdtemp()}):
            response = self.add(
                slug="pinned",
                name="Pinned",
                metadata_xml=signed,
                metadata_signing_certificate=self.idp.certificate_pem,
            )
        self.assertEqual(response.status_code, 302)
        self.assertEqual(IdentityProvider.objects.get().metadata_signature, "pinned")

    def test_metadata_whose_signature_does_not_verify_is_reported_on_the_change_page(self):
        altered = self.idp.signed_metadata_xml().replace("/sso/redirect", "/sso/elsewhere")
        response = self.add(slug="altered", name="Altered", metadata_xml=altered)
        self.assertEqual(response.status_code, 302)
        row = IdentityProvider.objects.get()
        page = self.client.get(f"/admin/saml_idps/identityprovider/{row.pk}/change/")
        self.assertContains(page, "signature that does not verify")
        self.assertContains(page, "signed, but the signature does not verify")

    def test_a_pinned_certificate_that_is_not_pem_is_a_form_error(self):
        response = self.add(
            slug="x",
            name="X",
            metadata_url=self.server.url("/metadata"),
            metadata_signing_certificate="MIIB...not a certificate",
        )
        self.assertFormError(response, "This is not a PEM certificate")

    def test_a_pinned_certificate_refuses_unsigned_metadata_at_registration(self):
        response = self.add(
            slug="x",
            name="X",
            metadata_url=self.server.url("/metadata"),
            metadata_signing_certificate=self.idp.certificate_pem,
        )
        self.assertFormError(response, "not signed")

    def test_pasting_metadata_of_another_entity_into_an_idp_is_refused(self):
        row = register(self.idp, "okta")
        response = self.client.post(
            f"/admin/saml_idps/identityprovider/{row.pk}/change/",
            admin_change_data(row, metadata_xml=shared_idp("idp-b").metadata_xml),
        )
        self.assertContains(response, "now describes the entity")
        row.refresh_from_db()
        self.assertEqual(row.entity_id, self.idp.entity_id)

    def test_pasted_metadata_xml_registers_an_idp(self):
        response = self.add(slug="pasted", name="Pasted", metadata_xml=self.idp.metadata_xml)
        self.assertEqual(response.status_code, 302)
        self.assertEqual(IdentityProvider.objects.get().entity_id, self.idp.entity_id)

    def test_url_answering_404_is_a_form_error(self):
        response = self.add(slug="x", name="X", metadata_url=self.server.url("/missing"))
        self.assertFormError(response, "The server answered HTTP 404.")

    def test_url_answering_500_is_a_form_error(self):
        response = self.add(slug="x", name="X", metadata_url=self.server.url("/down"))
        self.assertFormError(response, "The server answered HTTP 500.")

    def test_server_that_is_down_is_a_form_error(self):
        response = self.add(slug="x", name="X", metadata_url=closed_port_url())
        self.assertFormError(response, "Could not fetch the metadata")

    def test_non_xml_is_a_form_error(self):
        for path, message in [
            ("/not-xml", "The document is not well-formed XML"),
            ("/html", "The document is not SAML 2.0 metadata (no EntityDescriptor)."),
        ]:
            with self.subTest(path=path):
                response = self.add(slug="x", name="X", metadata_url=self.server.url(path))
                self.assertFormError(response, message)

    def test_metadata_without_an_idp_descriptor_is_a_form_error(self):
        response = self.add(slug="x", name="X", metadata_url=self.server.url("/sp"))
        self.assertFormError(response, "no IDPSSODescriptor")

    def test_neither_url_nor_xml_is_a_form_error(self):
        response = self.add(slug="x", name="X")
        self.assertFormError(response, "Enter the IdP&#x27;s metadata URL")

    def test_an_entity_id_already_registered_is_a_form_error(self):
        register(self.idp, "first")
        response = self.add(slug="second", name="Second", metadata_url=self.server.url("/metadata"))
        self.assertContains(response, "already has the entity ID")
        self.assertEqual(IdentityProvider.objects.count(), 1)

    @override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=False)
    def test_plain_http_metadata_url_is_refused_in_production(self):
        response = self.add(slug="x", name="X", metadata_url=self.server.url("/metadata"))
        self.assertFormError(response, "must start with https://")

    def test_change_page_shows_what_to_paste_into_okta(self):
        row = register(self.idp, "example-okta-com")
        page = self.client.get(f"/admin/saml_idps/identityprovider/{row.pk}/change/")
        self.assertContains(page, "Single sign-on URL")
        self.assertContains(page, "http://testserver/saml/example-okta-com/acs/")
        self.assertContains(page, "Audience URI (SP Entity ID)")
        self.assertContains(page, "http://testserver/saml/example-okta-com/metadata/")

    @override_settings(SAML_IDPS_BASE_URL="https://sso.example.com")
    def test_change_page_uses_the_configured_base_url(self):
        row = register(self.idp, "example-okta-com")
        page = self.client.get(f"/admin/saml_idps/identityprovider/{row.pk}/change/")
        self.assertContains(page, "https://sso.example.com/saml/example-okta-com/acs/")

    def test_the_attribute_mapping_is_edited_as_indented_json(self):
        row = register(self.idp, "okta", attribute_mapping={"Email": ["email"]})
        page = self.client.get(f"/admin/saml_idps/identityprovider/{row.pk}/change/")
        self.assertContains(page, "{\n  &quot;Email&quot;: [\n    &quot;email&quot;\n  ]\n}")

    def test_an_attribute_mapping_that_is_not_json_is_a_form_error_and_is_kept(self):
        row = register(self.idp, "okta")
        response = self.client.post(
            f"/admin/saml_idps/identityprovider/{row.pk}/change/",
            admin_change_data(row, attribute_mapping='{"Email": ["email"'),
        )
        self.assertContains(response, "Enter a valid JSON.")
        self.assertContains(response, "{&quot;Email&quot;: [&quot;email&quot;")

    def test_a_failed_add_shows_no_currently_saved_url(self):
        response = self.add(slug="x", name="X", metadata_url=self.server.url("/down"))
        self.assertContains(response, "errornote")
        self.assertNotContains(response, "Currently:")

    def test_changing_only_flags_does_not_refetch_the_metadata(self):
        row = register(self.idp, "okta", metadata_url="https://unreachable.invalid/metadata")
        response = self.client.post(
            f"/admin/saml_idps/identityprovider/{row.pk}/change/",
            admin_change_data(row, enabled=None),
        )
        self.assertEqual(response.status_code, 302)
        row.refresh_from_db()
        self.assertFalse(row.enabled)
        self.assertEqual(row.entity_id, self.idp.entity_id)

    def test_every_setting_of_an_idp_is_on_its_change_page(self):
        row = register(self.idp, "okta")
        page = self.client.get(f"/admin/saml_idps/identityprovider/{row.pk}/change/")
        for name in IdentityProvider.settings_fields():
            self.assertContains(page, f'name="{name}"')

    def test_what_the_metadata_says_is_no_setting(self):
        facts = {"entity_id", "metadata_valid_until", "signing_certificates", "last_error"}
        self.assertFalse(facts & set(IdentityProvider.settings_fields()))


class PrivilegeTests(TestCase):
    """What staff without superuser status can and cannot do with IdPs, links and mappings."""

    def setUp(self):
        self.idp = shared_idp("idp-a")
        self.row = register(self.idp, "okta", metadata_url="https://unreachable.invalid/m")
        self.staff = get_user_model().objects.create_user("staff", is_staff=True)

    def allow(self, *codenames):
        self.staff.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        self.client.force_login(self.staff)

    def test_view_only_staff_cannot_run_the_refresh_action(self):
        self.allow("view_identityprovider")
        listing = self.client.get("/admin/saml_idps/identityprovider/")
        self.assertNotContains(listing, "refresh_metadata")
        self.client.post(
            "/admin/saml_idps/identityprovider/",
            {"action": "refresh_metadata", "_selected_action": [self.row.pk]},
        )
        self.row.refresh_from_db()
        self.assertEqual(self.row.last_error, "")  # no fetch was tried

    def test_staff_with_change_permission_can_run_it(self):
        self.allow("view_identityprovider", "change_identityprovider")
        self.client.post(
            "/admin/saml_idps/identityprovider/",
            {"action": "refresh_metadata", "_selected_action": [self.row.pk]},
        )
        self.row.refresh_from_db()
        self.assertIn("could not be resolved", self.row.last_error)

    def test_a_non_superuser_cannot_link_a_privileged_account(self):
        self.allow("add_identitylink", "view_identitylink")
        for privileged in [
            get_user_model().objects.create_superuser("root", "root@example.com", "pw"),
            get_user_model().objects.create_user("ops", is_staff=True),
        ]:
            with self.subTest(user=privileged.username):
                response = self.client.post(
                    "/admin/saml_idps/identitylink/add/",
                    {
                        "identity_provider": self.row.pk,
                        "name_id": f"{privileged.username}@attacker.example",
                        "user": privileged.pk,
                    },
                )
                self.assertContains(response, "Only a superuser may link")
        self.assertFalse(IdentityLink.objects.exists())

    def test_a_non_superuser_can_link_an_ordinary_account(self):
        self.allow("add_identitylink", "view_identitylink")
        ordinary = get_user_model().objects.create_user("carol")
        response = self.client.post(
            "/admin/saml_idps/identitylink/add/",
            {"identity_provider": self.row.pk, "name_id": "carol@example.com", "user": ordinary.pk},
        )
        self.assertEqual(response.status_code, 302)
        self.assertEqual(IdentityLink.objects.get().user, ordinary)

    def test_a_non_superuser_cannot_grant_staff_or_superuser_through_a_mapping(self):
        self.allow("view_identityprovider", "change_identityprovider", "add_groupmapping")
        data = admin_change_data(self.row)
        data.update(
            {
                "group_mappings-TOTAL_FORMS": "1",
                "group_mappings-0-value": "Admins",
                "group_mappings-0-grants_superuser": "on",
                "group_mappings-0-grants_staff": "on",
            }
        )
        self.client.post(f"/admin/saml_idps/identityprovider/{self.row.pk}/change/", data)
        self.assertFalse(
            GroupMapping.objects.filter(grants_superuser=True).exists()
            or GroupMapping.objects.filter(grants_staff=True).exists()
        )
        page = self.client.get(f"/admin/saml_idps/identityprovider/{self.row.pk}/change/")
        self.assertNotContains(page, 'name="group_mappings-__prefix__-grants_superuser"')

    def test_a_clock_skew_beyond_ten_minutes_is_a_form_error(self):
        self.client.force_login(
            get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
        )
        response = self.client.post(
            f"/admin/saml_idps/identityprovider/{self.row.pk}/change/",
            admin_change_data(self.row, clock_skew="601"),
        )
        self.assertContains(response, "At most 600 seconds")
