"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against a live server."""

import io
import os
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from django.core.management import call_command
from django.test import override_settings

from saml_idps.forms import IdentityProviderForm

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Chromium as root in a container, and no network but loopback: no sandbox, no background calls.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_missing():
    """Why the browser tests cannot run here, or None. In CI they must run: no skipping there."""
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} not found; install it with: sudo apt-get install chromium"
    elif not apps.is_installed("saml_idps.demo_idp"):
        reason = "the demo IdP is not installed (DEBUG or DEMO_IDP is off)"
    else:
        return None
    if os.environ.get("CI"):
        raise RuntimeError(f"Browser tests cannot run in CI: {reason}")
    return reason


@override_settings(SAML_IDPS_METADATA_ALLOW_INSECURE=True)
class BrowserTestCase(StaticLiveServerTestCase):
    """A live site on http://127.0.0.1 with the demo IdP registered as slug 'demo', and a fresh
    browser page per test. A failing test leaves a screenshot in test-artifacts/."""

    host = "127.0.0.1"
    viewport = None  # Playwright's default, 1280 x 720

    @classmethod
    def setUpClass(cls):
        reason = browser_missing()
        if reason:
            raise unittest.SkipTest(f"Browser tests skipped: {reason}")
        # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
        # between browser steps are still synchronous and safe.
        cls.enterClassContext(mock.patch.dict(os.environ, {"DJANGO_ALLOW_ASYNC_UNSAFE": "true"}))
        super().setUpClass()
        from playwright.sync_api import sync_playwright

        cls.key_dir = tempfile.TemporaryDirectory()
        cls.enterClassContext(override_settings(SAML_IDPS_DEMO_KEY_DIR=Path(cls.key_dir.name)))
        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.playwright.stop()
        cls.key_dir.cleanup()
        super().tearDownClass()

    def setUp(self):
        call_command("register_demo_idp", base_url=self.live_server_url, stdout=io.StringIO())
        self.context = self.browser.new_context(viewport=self.viewport)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.addCleanup(self.context.close)

    def _callTestMethod(self, method):
        try:
            super()._callTestMethod(method)
        except BaseException:
            SCREENSHOTS.mkdir(exist_ok=True)
            self.page.screenshot(path=SCREENSHOTS / f"{self.id()}.png", full_page=True)
            raise

    def open(self, path):
        self.page.goto(self.live_server_url + path)

    def register_demo_tenant(self, slug, name):
        """Another IdP served by the demo IdP (at /demo-idp/<slug>/), registered by its
        metadata URL as the admin's form does."""
        form = IdentityProviderForm(
            data={
                "slug": slug,
                "name": name,
                "metadata_url": f"{self.live_server_url}/demo-idp/{slug}/metadata/",
            }
        )
        self.assertTrue(form.is_valid(), form.errors)
        return form.save()

    def sign_in_to_the_admin(self):
        """A superuser 'admin', signed in to /admin/ in this page."""
        get_user_model().objects.create_superuser("admin", "admin@example.com", "correct horse")
        self.open("/admin/")
        self.page.get_by_label("Username").fill("admin")
        self.page.get_by_label("Password").fill("correct horse")
        self.page.get_by_role("button", name="Log in").click()
