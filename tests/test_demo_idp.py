"""The local demo IdP: registration by its metadata URL, and bad input to its endpoints."""

import io
import re
import tempfile
from pathlib import Path

from django.apps import apps
from django.core.management import call_command
from django.test import LiveServerTestCase, TestCase, override_settings
from saml2 import BINDING_HTTP_POST

from saml_idps import idp_metadata, metadata
from saml_idps.models import IdentityProvider, MetadataChange

from .services import require

if not apps.is_installed("saml_idps.demo_idp"):
    require("the demo IdP is installed only with DEBUG=1 and DEMO_IDP=1 (manage.py test sets both)")

from saml_idps.demo_idp.checks import check_not_in_production  # noqa: E402

KEY_DIR = tempfile.mkdtemp(prefix="demo-idp-keys-")


@override_settings(SAML_IDPS_DEMO_KEY_DIR=Path(KEY_DIR), SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class RegisterDemoIdpTests(LiveServerTestCase):
    host = "127.0.0.1"

    def register(self):
        output = io.StringIO()
        call_command("register_demo_idp", base_url=self.live_server_url, stdout=output)
        return output.getvalue()

    def test_registers_slug_demo_from_its_metadata_url(self):
        self.assertIn("Registered the demo IdP", self.register())
        row = IdentityProvider.objects.get(slug="demo")
        self.assertEqual(row.entity_id, f"{self.live_server_url}/demo-idp/demo/metadata/")
        self.assertEqual(row.metadata_url, row.entity_id)

    def test_running_it_twice_changes_nothing(self):
        registration = ["slug", "name", "metadata_url", "entity_id", "metadata_xml", "enabled"]
        self.register()
        before = IdentityProvider.objects.values(*registration).get()
        self.assertIn("up to date", self.register())
        self.assertEqual(IdentityProvider.objects.values(*registration).get(), before)
        self.assertEqual(MetadataChange.objects.count(), 1)  # the registration only


def hidden_inputs(html):
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


@override_settings(SAML_IDPS_DEMO_KEY_DIR=Path(KEY_DIR))
class DemoIdpEndpointTests(TestCase):
    @override_settings(SAML_DEFAULT_BINDING=BINDING_HTTP_POST)
    def test_login_through_the_http_post_binding(self):
        demo = IdentityProvider(slug="demo", name="Demo IdP")
        document = self.client.get("/demo-idp/demo/metadata/").content.decode()
        metadata.register(demo, metadata.check_new_copy(demo, xml=document))

        request_form = self.client.get("/saml/demo/login/").content.decode()
        self.assertIn('action="http://testserver/demo-idp/demo/sso/post/"', request_form)
        sign_in_page = self.client.post("/demo-idp/demo/sso/post/", hidden_inputs(request_form))
        self.assertContains(sign_in_page, "Alice Anderson")

        fields = {**hidden_inputs(sign_in_page.content.decode()), "user": "alice"}
        response_form = self.client.post("/demo-idp/demo/sign-in/", fields).content.decode()
        signed_in = self.client.post("/saml/demo/acs/", hidden_inputs(response_form))
        self.assertRedirects(signed_in, "/user/", fetch_redirect_response=False)
        self.assertIn("_auth_user_id", self.client.session)

    def test_metadata_is_idp_metadata_with_a_signing_certificate(self):
        response = self.client.get("/demo-idp/demo/metadata/")
        document = idp_metadata.parse(response.content)
        self.assertEqual(document.entity_id, "http://testserver/demo-idp/demo/metadata/")
        self.assertEqual(len(document.signing_certificates), 1)

    def test_sign_in_page_refuses_a_missing_or_garbage_request(self):
        for query in ["", "?SAMLRequest=garbage", "?SAMLRequest=" + "A" * 64]:
            with self.subTest(query=query):
                response = self.client.get(f"/demo-idp/demo/sso/redirect/{query}")
                self.assertContains(response, "AuthnRequest", status_code=400)

    def test_answer_without_a_valid_request_is_refused(self):
        response = self.client.post(
            "/demo-idp/demo/sign-in/", {"SAMLRequest": "x", "binding": "redirect", "user": "alice"}
        )
        self.assertEqual(response.status_code, 400)

    def test_launch_to_an_unknown_app_is_refused(self):
        response = self.client.post(
            "/demo-idp/demo/launch/", {"app": "https://evil.example/", "user": "alice"}
        )
        self.assertContains(response, "Pick one of the apps", status_code=400)

    def test_logout_with_a_garbage_request_is_refused(self):
        response = self.client.get("/demo-idp/demo/slo/?SAMLRequest=garbage")
        self.assertContains(response, "not a valid logout request", status_code=400)

    def test_system_check_errors_when_enabled_with_debug_off(self):
        with override_settings(DEBUG=False):
            self.assertEqual([e.id for e in check_not_in_production(None)], ["demo_idp.E001"])
        with override_settings(DEBUG=True):
            self.assertEqual(check_not_in_production(None), [])
