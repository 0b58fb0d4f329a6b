"""The documentation says what the code does: its references are made from the code and refuse
to build when they would leave something out, each IdP page's values to paste are the admin's,
and the README fits on a page and links only to what exists. (CI builds the site itself, with
warnings as errors: make docs.)"""

import ast
import html
import re
import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.test import SimpleTestCase, TestCase
from myst_parser.slugs import github_slugify
from sphinx.errors import ExtensionError

from saml_idps import consoles, metadata
from saml_idps.config import urls_for
from saml_idps.models import IdentityProvider

from .fixtures import SITE, register, shared_idp

PROJECT = Path(__file__).resolve().parent.parent
DOCS = PROJECT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
import reference  # noqa: E402 - docs/_ext, the documentation's Sphinx extension

REAL_METADATA = PROJECT / "tests" / "realworld" / "metadata"
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#([^)\s]+))?\)")


def heading_anchors(markdown):
    """The anchors of a page's headings, as GitHub makes them (and the site: docs/conf.py)."""
    return {github_slugify(heading) for heading in re.findall(r"^#+ (.+)$", markdown, re.M)}


def links(markdown):
    """``[(page, anchor)]`` of the links to Markdown pages in ``markdown``."""
    return LINK.findall(markdown)


class ReadmeTests(SimpleTestCase):
    readme = (PROJECT / "README.md").read_text()

    def test_the_readme_fits_on_a_page(self):
        self.assertLessEqual(len(self.readme.splitlines()), 120)

    def test_every_link_of_the_readme_reaches_a_page_and_heading_that_exist(self):
        found = links(self.readme)
        self.assertGreater(len(found), 15)
        for path, anchor in found:
            with self.subTest(path=path):
                page = PROJECT / path
                self.assertTrue(page.is_file(), f"{path} does not exist")
                if anchor:
                    self.assertIn(anchor, heading_anchors(page.read_text()))

    def test_the_readmes_settings_lines_are_those_of_the_documented_snippets(self):
        block = re.search(r"```python\n(.*?)```", self.readme, re.DOTALL).group(1)
        snippets = "".join(
            (DOCS / "snippets" / name).read_text() for name in ("host_settings.py", "host_urls.py")
        )
        for line in filter(str.strip, block.splitlines()):
            with self.subTest(line=line):
                self.assertIn(line, snippets.splitlines())

    def test_every_idp_page_is_linked_from_the_readme(self):
        for page in (DOCS / "idps").glob("*.md"):
            with self.subTest(page=page.name):
                self.assertIn(f"(docs/idps/{page.name})", self.readme)


class DocsLinkTests(SimpleTestCase):
    def test_every_anchor_a_page_links_to_is_a_heading_as_github_names_it(self):
        # The site also accepts docutils' ids (http-127-0-0-1); GitHub, where the pages are
        # read too, only its own (http127001).
        for page in DOCS.rglob("*.md"):
            for path, anchor in links(page.read_text()):
                if anchor:
                    with self.subTest(page=page.name, link=f"{path}#{anchor}"):
                        target = (page.parent / path).resolve()
                        self.assertIn(anchor, heading_anchors(target.read_text()))


class SettingsReferenceTests(SimpleTestCase):
    def test_every_app_setting_is_in_the_reference_with_its_default(self):
        from saml_idps.conf import DEFAULTS

        rows = {name: default for names, default, _ in reference.app_settings() for name in names}
        self.assertEqual(set(rows), {f"SAML_IDPS_{name}" for name in DEFAULTS})
        self.assertEqual(rows["SAML_IDPS_CONFIG_CACHE_SIZE"], "1000")

    def test_a_setting_without_its_documentation_stops_the_build(self):
        with self.assertRaisesMessage(ExtensionError, "read but not documented ['SAML_IDPS_B']"):
            reference.mismatch("conf", {"SAML_IDPS_A": 1, "SAML_IDPS_B": 2}, {("SAML_IDPS_A",): ""})

    def test_a_documented_setting_nobody_reads_stops_the_build(self):
        with self.assertRaisesMessage(ExtensionError, "documented but not read ['SAML_IDPS_GONE']"):
            reference.mismatch("conf", {}, {("SAML_IDPS_GONE",): "once"})

    def test_every_environment_variable_the_settings_read_is_in_the_reference(self):
        rows = {name for names, *_ in reference.environment_variables() for name in names}
        for variable in ("DATABASE_URL", "DEBUG", "SECRET_KEY", "REDIS_URL", "SAML_LOG_LEVEL"):
            self.assertIn(variable, rows)

    def test_reads_through_environs_env_list_and_dj_database_url_are_all_found(self):
        source = (
            'A = setting(env.bool, "ONE", False)\n'
            'B = env.str("TWO", "x")\n'
            'C = env_list("THREE")\n'
            'D = dj_database_url.config(env="FOUR", default="sqlite://")\n'
        )
        self.assertEqual(
            reference.environment_reads(source),
            {
                "ONE": ("bool", "False"),
                "TWO": ("str", "'x'"),
                "THREE": ("list", ""),
                "FOUR": ("url", ""),
            },
        )

    def test_names_of_a_docstring_are_grouped_as_written(self):
        docstring = "Intro.\n\nA_ONE, A_TWO\n    Both.\n    Still both.\nB\n    Alone.\n"
        self.assertEqual(
            reference.documented_names(docstring),
            {("A_ONE", "A_TWO"): "Both. Still both.", ("B",): "Alone."},
        )


class CommandReferenceTests(SimpleTestCase):
    def test_every_subcommand_has_its_help_in_the_reference(self):
        titles = [title for title, _ in reference.command_help(["saml_idps"])]
        for subcommand in ("add", "list", "show", "import", "export", "scim-token", "test"):
            self.assertIn(f"manage.py saml_idps {subcommand}", titles)

    def test_the_help_is_the_commands_own(self):
        helps = dict(reference.command_help(["refresh_saml_metadata"]))
        self.assertIn("--stale-only", helps["manage.py refresh_saml_metadata"])


class UrlReferenceTests(SimpleTestCase):
    def test_every_named_url_of_the_app_is_in_the_reference(self):
        names = {name for _, name, _ in reference.url_rows()}
        for name in ("home", "user", "logout", "login", "acs", "acs_alias", "metadata", "sls"):
            self.assertIn(f"saml_idps:{name}", names)

    def test_the_alias_of_the_acs_says_so(self):
        rows = {name: what for _, name, what in reference.url_rows()}
        self.assertEqual(rows["saml_idps:acs_alias"], "the same as saml_idps:acs")


class IdpPageTests(SimpleTestCase):
    pages = {page.name: page.read_text() for page in (DOCS / "idps").glob("*.md")}

    def test_every_product_of_the_admin_has_its_table_on_an_idp_page(self):
        shown = {
            product
            for text in self.pages.values()
            for product in re.findall(r"```\{idp-console\} (\S+) \S+", text)
        }
        self.assertEqual(shown, set(consoles.CONSOLES))

    def test_the_table_of_a_page_is_the_admins_for_that_slug(self):
        product, where, fields = reference.console("entra", "entra")
        urls = urls_for(IdentityProvider(slug="entra"), reference.EXAMPLE_SITE)
        self.assertEqual((product, where, fields), consoles.for_product("entra", urls))
        self.assertIn(("Reply URL (Assertion Consumer Service URL)", urls.acs), fields)

    def test_the_okta_page_follows_the_guides_flow_both_ways_and_its_migration(self):
        okta = self.pages["okta.md"]
        self.assertIn("SP-initiated", okta)
        self.assertIn("IdP-initiated", okta)
        self.assertIn("--sp-entity-id https://HOST/saml/sso/example-okta-com", okta)


class ConsoleValueTests(SimpleTestCase):
    def test_onelogins_acs_validator_matches_our_acs_url_and_nothing_else(self):
        urls = urls_for(IdentityProvider(slug="onelogin"), "https://sso.example.com")
        fields = dict(consoles.for_product("onelogin", urls)[2])
        pattern = fields["ACS (Consumer) URL Validator"]
        self.assertRegex(urls.acs, pattern)
        self.assertNotRegex("https://ssoXexample.com/saml/onelogin/acs/", pattern)
        self.assertNotRegex(urls.acs + "evil", pattern)


class ProductOfEntityIdTests(SimpleTestCase):
    """Real products' metadata (tests/realworld) name their product by entity ID."""

    def entity_id(self, name):
        document = (REAL_METADATA / name).read_text()
        return re.search(r'entityID="([^"]+)"', document).group(1)

    def test_real_idps_entity_ids_name_their_product(self):
        for name, product in [
            ("okta-ssoready.xml", "okta"),
            ("okta-crewjam.xml", "okta"),
            ("entra-id-tenant-ruby-saml-pr.xml", "entra"),
            ("google-workspace-ssoready.xml", "google"),
            ("adfs-msidlab11-v4-azuread-identitymodel.xml", "adfs"),
            ("keycloak-new-ssoready.xml", "keycloak"),
            ("onelogin-crewjam.xml", "onelogin"),
            ("auth0-jackson.xml", "auth0"),
            ("shibboleth-idp-v5-default-authentik.xml", "shibboleth"),
            ("simplesamlphp-umu-pysaml2-entitiesdescriptor.xml", "simplesamlphp"),
            ("apereo-cas-pac4j.xml", None),
        ]:
            with self.subTest(name=name):
                self.assertEqual(consoles.product_of(self.entity_id(name)), product)


class AdminValuesToPasteTests(TestCase):
    def setUp(self):
        admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
        self.client.force_login(admin)

    def change_page(self, row):
        page = self.client.get(f"/admin/saml_idps/identityprovider/{row.pk}/change/")
        return html.unescape(page.content.decode())

    def test_an_okta_idp_shows_oktas_console_first_and_open(self):
        row = IdentityProvider(slug="okta", name="Okta")
        xml = (REAL_METADATA / "okta-ssoready.xml").read_text()
        metadata.register(row, metadata.check_new_copy(row, xml=xml))
        page = self.change_page(row)
        product, where, fields = consoles.for_product("okta", urls_for(row, SITE))
        self.assertIn(f'<details open><summary><div class="form-row"><strong>{product}', page)
        for field, value in fields:
            self.assertIn(f"<label>{field}</label> <code>{value}</code>", page)

    def test_every_products_console_is_on_the_page(self):
        page = self.change_page(register(shared_idp("idp-a"), "idp-a"))
        for console in consoles.CONSOLES.values():
            self.assertIn(f"<strong>{console.product}</strong>", page)
        self.assertNotIn("<details open>", page)  # the test IdP names no product


class DocumentedCodeTests(SimpleTestCase):
    def test_the_extension_documents_every_directive_it_registers(self):
        module = ast.parse((DOCS / "_ext" / "reference.py").read_text())
        registered = re.findall(r'\("([a-z-]+)", [A-Z]\w+\)', ast.unparse(module))
        for name in registered:
            self.assertIn(f"``{name}``", ast.get_docstring(module))
