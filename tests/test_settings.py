"""Settings come from the environment; cookies work over http://127.0.0.1 and are Secure in
production."""

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import requests
from django.test import SimpleTestCase

from saml_idps.certificates import generate_self_signed

from .fixtures import SamlTestCase, free_port
from .services import AppServer

PROJECT = Path(__file__).resolve().parent.parent
SETTINGS_NAMES = [
    "DEMO_IDP",
    "SAML_SP_KEY_FILE",
    "SAML_SP_CERT_FILE",
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "ALLOWED_HOSTS",
    "SAML_BASE_URL",
    "SAML_METADATA_ALLOW_INSECURE",
]


def clean_environment(**values):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_NAMES}
    return {**env, "DJANGO_SETTINGS_MODULE": "samlsite.settings", **values}


def settings_under(**env):
    """The settings samlsite computes from exactly these environment variables."""
    script = (
        "import json; from samlsite import settings as s; print(json.dumps({"
        "'DEBUG': s.DEBUG, 'SECRET_KEY': s.SECRET_KEY, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS,"
        "'ENGINE': s.DATABASES['default']['ENGINE'], 'NAME': str(s.DATABASES['default']['NAME']),"
        "'BASE_URL': s.SAML_IDPS_BASE_URL, 'INSECURE': s.SAML_IDPS_METADATA_ALLOW_INSECURE,"
        "'SESSION_COOKIE_SECURE': s.SESSION_COOKIE_SECURE, 'SSL_REDIRECT': s.SECURE_SSL_REDIRECT,"
        "'HSTS': s.SECURE_HSTS_SECONDS,"
        "'DEMO': 'saml_idps.demo_idp' in s.INSTALLED_APPS}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(result.stderr.strip())
    return json.loads(result.stdout)


class EnvironmentSettingsTests(SimpleTestCase):
    def test_with_nothing_set_the_site_stops_with_one_line_asking_for_a_secret_key(self):
        with self.assertRaises(RuntimeError) as stopped:
            settings_under()
        self.assertEqual(
            str(stopped.exception),
            "SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development).",
        )

    def test_debug_demo_idp_and_insecure_fetching_are_off_unless_set(self):
        settings = settings_under(SECRET_KEY="k")
        self.assertFalse(settings["DEBUG"])
        self.assertFalse(settings["DEMO"])
        self.assertFalse(settings["INSECURE"])
        self.assertTrue(settings["SESSION_COOKIE_SECURE"])

    def test_debug_is_on_only_when_set_to_a_true_value(self):
        for value in ["1", "true", "True", "yes", "on"]:
            with self.subTest(value=value):
                self.assertTrue(settings_under(DEBUG=value)["DEBUG"])
        for value in ["0", "false", "False", "no", "off"]:
            with self.subTest(value=value):
                self.assertFalse(settings_under(DEBUG=value, SECRET_KEY="k")["DEBUG"])

    def test_an_unreadable_debug_value_stops_with_one_line_naming_it(self):
        with self.assertRaises(RuntimeError) as stopped:
            settings_under(DEBUG="nonsense", SECRET_KEY="k")
        self.assertEqual(len(str(stopped.exception).splitlines()), 1)
        self.assertIn("Setting DEBUG from the environment", str(stopped.exception))
        self.assertIn("Not a valid boolean", str(stopped.exception))

    def test_local_development_runs_on_sqlite_with_the_demo_idp(self):
        settings = settings_under(DEBUG="1", DEMO_IDP="1")
        self.assertTrue(settings["DEBUG"] and settings["DEMO"])
        self.assertEqual(settings["ENGINE"], "django.db.backends.sqlite3")
        self.assertTrue(settings["NAME"].endswith("db.sqlite3"))
        self.assertIsNone(settings["BASE_URL"])
        self.assertFalse(settings["SESSION_COOKIE_SECURE"])

    def test_the_demo_idp_is_not_installed_with_debug_off(self):
        self.assertFalse(settings_under(DEBUG="0", DEMO_IDP="1", SECRET_KEY="k")["DEMO"])

    def test_the_demo_idp_is_not_served_by_gunicorn_with_debug_off(self):
        with tempfile.TemporaryDirectory() as folder:
            server = AppServer(
                {
                    **clean_environment(),
                    "DEBUG": "0",
                    "DEMO_IDP": "1",
                    "SECRET_KEY": "s3cret",
                    "ALLOWED_HOSTS": "127.0.0.1",
                    "DATABASE_URL": f"sqlite:///{folder}/db.sqlite3",
                    "REDIS_URL": "",
                }
            )
            try:
                response = requests.get(f"{server.url}/demo-idp/demo/metadata/", timeout=10)
            finally:
                server.stop()
        self.assertEqual(response.status_code, 404)

    def test_production_settings(self):
        settings = settings_under(
            DEBUG="0",
            SECRET_KEY="production-secret",
            ALLOWED_HOSTS="sso.example.com, www.example.com",
            DATABASE_URL="postgres://app:pw@db.example.com:5432/sso",
            SAML_BASE_URL="https://sso.example.com/",
            SAML_METADATA_ALLOW_INSECURE="1",
        )
        self.assertEqual(settings["SECRET_KEY"], "production-secret")
        self.assertEqual(settings["ALLOWED_HOSTS"], ["sso.example.com", "www.example.com"])
        self.assertEqual(settings["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual(settings["NAME"], "sso")
        self.assertEqual(settings["BASE_URL"], "https://sso.example.com")
        self.assertTrue(settings["INSECURE"])
        self.assertTrue(settings["SESSION_COOKIE_SECURE"])
        # TLS redirects and HSTS are opt-in, for deployments behind a TLS proxy.
        self.assertFalse(settings["SSL_REDIRECT"])
        self.assertEqual(settings["HSTS"], 0)

    def test_runserver_with_debug_off_serves_the_admin_over_plain_http(self):
        port = free_port()
        with tempfile.TemporaryDirectory() as folder:
            server = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=PROJECT,
                env=clean_environment(
                    DEBUG="0",
                    SECRET_KEY="s3cret",
                    ALLOWED_HOSTS="127.0.0.1",
                    DATABASE_URL=f"sqlite:///{folder}/db.sqlite3",
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                status = wait_for(f"http://127.0.0.1:{port}/admin/login/", server)
            finally:
                server.terminate()
                server.wait(timeout=10)
        self.assertEqual(status, 200)


def wait_for(url, server, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"runserver exited: {server.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def documented_production_environment():
    """The variables of the production snippet the documentation shows (docs/operations.md)."""
    snippet = (PROJECT / "docs" / "snippets" / "production.sh").read_text()
    export = snippet.split("\n.venv/")[0].replace("\\\n", " ")
    words = shlex.split(export)
    assert words[0] == "export", words
    return dict(word.split("=", 1) for word in words[1:])


class DeployCheckTests(SimpleTestCase):
    def test_check_deploy_is_clean_with_the_documented_production_settings(self):
        documented = documented_production_environment()
        self.assertEqual(documented["DEBUG"], "0")
        key_pem, cert_pem = generate_self_signed("production SP")
        keys = Path(tempfile.mkdtemp())
        (keys / "sp.key").write_bytes(key_pem)
        (keys / "sp.crt").write_bytes(cert_pem)
        result = subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=PROJECT,
            env=clean_environment(
                **{
                    **documented,
                    # Its placeholders, and the files it names, made real.
                    "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-of-50+-chars",
                    "DATABASE_URL": f"sqlite:///{keys / 'db.sqlite3'}",
                    "SAML_SP_KEY_FILE": str(keys / "sp.key"),
                    "SAML_SP_CERT_FILE": str(keys / "sp.crt"),
                }
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr + result.stdout)
        self.assertIn("System check identified no issues", result.stdout)


class SamlCookieTests(SamlTestCase):
    def test_saml_session_cookie_is_samesite_none_and_secure_even_in_development(self):
        response = self.client.get("/saml/idp-a/login/")
        cookie = response.cookies["saml_session"]
        self.assertEqual(cookie["samesite"], "None")
        self.assertTrue(cookie["secure"])
        self.assertTrue(cookie["httponly"])
