"""`manage.py saml_idps`: the operators' command line and config-as-code."""

import io
import json
import tempfile
from pathlib import Path
from unittest import mock

from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import TestCase, override_settings

from saml_idps.models import EmailDomain, GroupMapping, IdentityProvider, MetadataChange

from .fixtures import MetadataServer, in_aggregate, register, shared_idp, xml_route
from .test_admin import SP_METADATA


def run(*args):
    output = io.StringIO()
    call_command("saml_idps", *args, stdout=output)
    return output.getvalue()


def write(text):
    path = Path(tempfile.mkdtemp()) / "file"
    path.write_text(text)
    return str(path)


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class AddTests(TestCase):
    def setUp(self):
        self.idp = shared_idp("idp-a")

    def test_add_by_metadata_url(self):
        server = MetadataServer(self, {"/m": xml_route(self.idp.metadata_xml)})
        output = run("add", "okta", "--metadata-url", server.url("/m"), "--name", "Okta")
        self.assertIn(f"Added okta: {self.idp.entity_id}", output)
        row = IdentityProvider.objects.get()
        self.assertEqual((row.name, row.metadata_url), ("Okta", server.url("/m")))
        self.assertEqual(MetadataChange.objects.count(), 1)

    def test_add_by_metadata_file(self):
        run("add", "okta", "--metadata-file", write(self.idp.metadata_xml))
        self.assertEqual(IdentityProvider.objects.get().name, "okta")

    def test_a_file_that_is_not_idp_metadata_is_an_error(self):
        with self.assertRaisesMessage(CommandError, "no IDPSSODescriptor"):
            run("add", "sp", "--metadata-file", write(SP_METADATA.decode()))
        self.assertFalse(IdentityProvider.objects.exists())

    def test_a_duplicate_entity_id_is_an_error(self):
        register(self.idp, "first")
        with self.assertRaisesMessage(CommandError, "already has the entity ID"):
            run("add", "second", "--metadata-file", write(self.idp.metadata_xml))
        self.assertEqual(IdentityProvider.objects.count(), 1)

    def test_entity_id_picks_one_idp_of_an_aggregate(self):
        other = shared_idp("idp-b")
        aggregate = write(in_aggregate(other.metadata_xml, self.idp.metadata_xml))
        with self.assertRaisesMessage(CommandError, "--entity-id"):
            run("add", "fed", "--metadata-file", aggregate)
        run("add", "fed", "--metadata-file", aggregate, "--entity-id", self.idp.entity_id)
        self.assertEqual(IdentityProvider.objects.get().entity_id, self.idp.entity_id)

    def test_an_unreachable_metadata_server_names_the_cause(self):
        from .fixtures import closed_port_url

        with self.assertRaisesMessage(CommandError, "the connection was refused"):
            run("add", "down", "--metadata-url", closed_port_url())

    def test_errors_are_one_line_per_field(self):
        register(self.idp, "first")
        with self.assertRaises(CommandError) as refused:
            run("add", "first", "--metadata-file", write(self.idp.metadata_xml))
        lines = str(refused.exception).splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(all(line.split(": ")[0] in {"slug", "metadata_xml"} for line in lines))

    def test_a_missing_file_is_an_error(self):
        with self.assertRaisesMessage(CommandError, "Cannot read"):
            run("add", "x", "--metadata-file", "/nonexistent/metadata.xml")


class ManageTests(TestCase):
    def setUp(self):
        self.row = register(shared_idp("idp-a"), "okta", name="Okta")

    def test_list_has_a_header_and_a_line_per_idp(self):
        self.assertEqual(
            run("list").splitlines(),
            [
                "SLUG\tENTITY ID\tSTATE\tMETADATA AGE\tCERTIFICATES EXPIRE",
                f"okta\t{self.row.entity_id}\tenabled\t-\t"
                f"{self.row.certificates_expire_at:%Y-%m-%d}",
            ],
        )

    def test_show_prints_every_setting(self):
        output = run("show", "okta")
        self.assertIn('name: "Okta"', output)
        self.assertIn('required_signatures: "either"', output)

    def test_show_prints_the_entity_id_our_urls_and_the_certificates(self):
        output = run("show", "okta", "--base-url", "https://sso.example.com/")
        certificate = self.row.signing_certificates[0]
        for line in [
            f"entity ID: {self.row.entity_id}",
            "  ACS (single sign-on URL): https://sso.example.com/saml/okta/acs/",
            "  SP entity ID (Audience URI): https://sso.example.com/saml/okta/metadata/",
            f"  {certificate['subject']}, expires {certificate['not_after'][:10]}, "
            f"SHA-256 {certificate['sha256']}",
        ]:
            self.assertIn(line + "\n", output)

    def test_show_prints_the_console_fields_of_the_product_its_entity_id_names(self):
        metadata_file = Path(__file__).parent / "realworld" / "metadata" / "okta-ssoready.xml"
        run("add", "real-okta", "--metadata-file", str(metadata_file))
        output = run("show", "real-okta", "--base-url", "https://sso.example.com")
        self.assertIn("in Okta (Admin Console › Applications › Create App Integration", output)
        self.assertIn("  Single sign-on URL: https://sso.example.com/saml/real-okta/acs/\n", output)
        self.assertNotIn("in Okta", run("show", "okta"))  # the test IdP names no product

    def test_show_prints_what_to_enter_in_the_idp_for_provisioning(self):
        output = run("show", "okta", "--base-url", "https://sso.example.com/")
        self.assertIn("provisioning (SCIM) off;", output)
        self.assertIn("    SCIM connector base URL: https://sso.example.com/scim/okta/v2\n", output)
        self.assertIn("    Tenant URL: https://sso.example.com/scim/okta/v2\n", output)

    def test_disable_and_enable(self):
        run("disable", "okta")
        self.assertFalse(IdentityProvider.objects.get().enabled)
        run("enable", "okta")
        self.assertTrue(IdentityProvider.objects.get().enabled)

    def test_an_unknown_slug_is_an_error(self):
        for action in ("show", "enable", "disable", "export"):
            with (
                self.subTest(action=action),
                self.assertRaisesMessage(CommandError, "No identity provider nope"),
            ):
                run(action, "nope")


class ExportImportTests(TestCase):
    def setUp(self):
        self.row = register(shared_idp("idp-a"), "okta", name="Okta", allow_sha1=True)
        EmailDomain.objects.create(identity_provider=self.row, domain="acme.com")
        GroupMapping.objects.create(
            identity_provider=self.row, value="Eng", group=Group.objects.create(name="eng")
        )
        self.exported = run("export")

    def import_file(self, text):
        return run("import", write(text))

    def test_export_holds_every_setting(self):
        (entry,) = json.loads(self.exported)
        self.assertEqual(entry["slug"], "okta")
        self.assertTrue(entry["allow_sha1"])
        self.assertEqual(entry["email_domains"], ["acme.com"])
        self.assertEqual(entry["group_mappings"][0]["group"], "eng")
        self.assertEqual(entry["metadata_xml"], self.row.metadata_xml)

    def test_import_into_an_empty_site_recreates_the_idp(self):
        IdentityProvider.objects.all().delete()
        # SHA-1 is a riskier choice than a new IdP's defaults: it takes the flag.
        self.assertIn(
            "okta: created",
            run("import", write(self.exported), "--allow-weaker-security"),
        )
        row = IdentityProvider.objects.get()
        self.assertTrue(row.allow_sha1)
        self.assertEqual(list(row.email_domains.values_list("domain", flat=True)), ["acme.com"])
        self.assertEqual(row.group_mappings.get().group.name, "eng")

    def test_importing_twice_changes_nothing(self):
        before = IdentityProvider.objects.values().get()
        self.assertIn("okta: unchanged", self.import_file(self.exported))
        self.assertIn("okta: unchanged", self.import_file(self.exported))
        self.assertEqual(IdentityProvider.objects.values().get(), before)

    def test_import_updates_a_changed_setting(self):
        entries = json.loads(self.exported)
        entries[0]["clock_skew"] = 120
        self.assertIn("okta: updated", self.import_file(json.dumps(entries)))
        self.assertEqual(IdentityProvider.objects.get().clock_skew, 120)

    def test_invalid_json_is_an_error(self):
        with self.assertRaisesMessage(CommandError, "is not valid JSON"):
            self.import_file("[{not json")

    def test_a_failed_import_changes_nothing(self):
        entries = json.loads(self.exported)
        entries[0]["clock_skew"] = 120
        bad = dict(entries[0], slug="sp", metadata_xml=SP_METADATA.decode(), metadata_url="")
        with self.assertRaisesMessage(CommandError, "Nothing was imported"):
            self.import_file(json.dumps([entries[0], bad]))
        self.assertEqual(IdentityProvider.objects.get().clock_skew, 60)
        self.assertEqual(IdentityProvider.objects.count(), 1)

    def test_a_duplicate_entity_id_is_refused(self):
        entries = json.loads(self.exported)
        copy = dict(entries[0], slug="okta-copy")
        with self.assertRaisesMessage(CommandError, "already has the entity ID"):
            self.import_file(json.dumps([copy]))

    def test_a_mapping_onto_is_staff_is_refused(self):
        entries = json.loads(self.exported)
        entries[0]["attribute_mapping"] = {"role": ["is_staff"]}
        with self.assertRaisesMessage(CommandError, "Assertions may not set is_staff"):
            self.import_file(json.dumps(entries))

    def test_null_characters_in_domains_or_group_values_are_refused(self):
        for field, value in [
            ("email_domains", ["ac\x00me.com"]),
            ("group_mappings", [{"value": "E\x00", "group": "eng"}]),
        ]:
            with self.subTest(field=field):
                entries = json.loads(self.exported)
                entries[0][field] = value
                with self.assertRaisesMessage(CommandError, "Nothing was imported"):
                    self.import_file(json.dumps(entries))

    def test_import_checks_a_pinned_certificate_without_the_xmlsec1_program(self):
        entries = json.loads(self.exported)
        idp = shared_idp("idp-a")
        entries[0].update(
            metadata_url="",
            metadata_xml=idp.signed_metadata_xml(),
            metadata_signing_certificate=idp.certificate_pem,
        )
        with mock.patch.dict("os.environ", {"PATH": tempfile.mkdtemp()}):
            self.assertIn("okta: updated", self.import_file(json.dumps(entries)))
        self.assertEqual(IdentityProvider.objects.get().metadata_signature, "pinned")

    def test_an_entry_omitting_settings_gets_the_models_defaults(self):
        IdentityProvider.objects.all().delete()
        entry = {"slug": "new", "name": "New", "metadata_xml": shared_idp("idp-b").metadata_xml}
        self.assertIn("new: created", self.import_file(json.dumps([entry])))
        row = IdentityProvider.objects.get()
        self.assertTrue(row.enabled and row.sign_authn_requests and row.create_users)
        self.assertTrue(row.show_assertion_values and row.allow_idp_initiated)
        self.assertEqual(row.attribute_mapping, IdentityProvider().attribute_mapping)

    def test_an_empty_attribute_mapping_is_accepted(self):
        entries = json.loads(self.exported)
        entries[0]["attribute_mapping"] = {}
        self.assertIn("okta: updated", self.import_file(json.dumps(entries)))
        self.assertEqual(IdentityProvider.objects.get().attribute_mapping, {})

    def test_a_pinned_certificate_differing_only_in_whitespace_is_unchanged(self):
        idp = shared_idp("idp-a")
        entries = json.loads(self.exported)
        entries[0].update(
            metadata_url="",
            metadata_xml=idp.signed_metadata_xml(),
            metadata_signing_certificate=idp.certificate_pem,
        )
        self.import_file(json.dumps(entries))
        entries[0]["metadata_signing_certificate"] = "  " + idp.certificate_pem + "\n\n"
        self.assertIn("okta: unchanged", self.import_file(json.dumps(entries)))

    def import_weakening(self, change, *flags):
        entries = json.loads(self.exported)
        change(entries[0])
        errors = io.StringIO()
        call_command(
            "saml_idps",
            "import",
            write(json.dumps(entries)),
            *flags,
            stdout=io.StringIO(),
            stderr=errors,
        )
        return errors.getvalue()

    def test_every_weakening_change_is_refused_without_the_flag_naming_it(self):
        weakenings = {
            "clock skew of 400 s": lambda e: e.update(clock_skew=400),
            "AuthnRequests are not signed": lambda e: e.update(sign_authn_requests=False),
            "makes its members superuser": lambda e: e["group_mappings"].append(
                {"value": "Admins", "group": None, "grants_superuser": True}
            ),
            "makes its members staff": lambda e: e["group_mappings"].append(
                {"value": "Ops", "group": None, "grants_staff": True}
            ),
        }
        IdentityProvider.objects.filter(pk=self.row.pk).update(allow_idp_initiated=False)
        self.exported = run("export")
        weakenings["IdP-initiated login is on"] = lambda e: e.update(allow_idp_initiated=True)
        before = IdentityProvider.objects.values().get()
        for warning, change in weakenings.items():
            with (
                self.subTest(warning=warning),
                self.assertRaisesMessage(CommandError, "--allow-weaker-security") as refused,
            ):
                self.import_weakening(change)
            self.assertIn(warning, str(refused.exception))
        self.assertEqual(IdentityProvider.objects.values().get(), before)

    def test_sha1_on_an_idp_that_did_not_allow_it_is_a_weakening(self):
        IdentityProvider.objects.filter(pk=self.row.pk).update(allow_sha1=False)
        self.exported = run("export")
        with self.assertRaisesMessage(CommandError, "SHA-1 signatures are accepted"):
            self.import_weakening(lambda e: e.update(allow_sha1=True))

    def test_with_the_flag_a_weakening_is_applied_and_its_warning_printed(self):
        warnings = self.import_weakening(
            lambda e: e.update(sign_authn_requests=False), "--allow-weaker-security"
        )
        self.assertIn("okta: weaker security: AuthnRequests are not signed.", warnings)
        self.assertFalse(IdentityProvider.objects.get().sign_authn_requests)

    def test_a_clock_skew_beyond_ten_minutes_is_refused(self):
        with self.assertRaisesMessage(CommandError, "At most 600 seconds"):
            self.import_weakening(
                lambda e: e.update(clock_skew=10 * 365 * 24 * 3600), "--allow-weaker-security"
            )
        self.assertEqual(IdentityProvider.objects.get().clock_skew, 60)

    def test_a_file_that_is_not_a_list_is_refused(self):
        with self.assertRaisesMessage(CommandError, "JSON list of identity providers"):
            self.import_file('{"slug": "okta"}')
