"""The wheel of saml_idps, installed beside a brand-new Django project by the documented steps
(docs/project.md), signs a user in there: proof the app does not lean on samlsite."""

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from django.test import SimpleTestCase

PROJECT = Path(__file__).resolve().parent.parent

# Runs inside the new project's virtualenv, with the documented snippets and nothing else: the demo
# IdP the host enabled, registered by its metadata through the CLI, then an SP-initiated login
# under the /sso/ prefix, every step through the Django test client.
LOGIN_SCRIPT = """
import os, re, html
os.environ["DJANGO_SETTINGS_MODULE"] = "hostsite.settings"
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
client = Client()
metadata = client.get("/demo-idp/demo/metadata/")
assert metadata.status_code == 200, metadata.status_code
with open("demo.xml", "wb") as handle:
    handle.write(metadata.content)
call_command("saml_idps", "add", "demo", "--metadata-file", "demo.xml", "--name", "Demo")

home = client.get("/sso/")
assert b'href="/sso/saml/demo/login/"' in home.content, home.content[:2000]
to_idp = client.get("/sso/saml/demo/login/")
assert to_idp.status_code == 302, to_idp.content[:1000]
sign_in_page = client.get(to_idp["Location"].removeprefix("http://testserver"))
hidden = rb'name="(SAMLRequest|binding|RelayState)" value="([^"]*)"'
form = dict(re.findall(hidden, sign_in_page.content))
posted = client.post("/demo-idp/demo/sign-in/", {
    "user": "alice", **{k.decode(): html.unescape(v.decode()) for k, v in form.items()}})
action = re.search(rb'action="([^"]+)"', posted.content).group(1).decode()
fields = dict(re.findall(rb'name="(SAMLResponse|RelayState)" value="([^"]*)"', posted.content))
assert action == "http://testserver/sso/saml/demo/acs/", action
response = client.post(action.removeprefix("http://testserver"), {
    k.decode(): html.unescape(v.decode()) for k, v in fields.items()})
assert response.status_code == 302, response.content[:1000]
assert response["Location"] == "/sso/user/", response["Location"]
page = client.get("/sso/user/")
assert b"alice@example.com" in page.content, page.content[:1000]
print("SIGNED IN")
"""


def snippet(name):
    """A snippet the documentation shows for readers to copy (docs/snippets/)."""
    return (PROJECT / "docs" / "snippets" / name).read_text()


def run(*command, cwd):
    return run_with_stderr(*command, cwd=cwd)[0]


def run_with_stderr(*command, cwd):
    """``(stdout, stderr)`` of a command in the new project, which has settings and a database
    of its own, not this suite's."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
    }
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise AssertionError(
            f"{' '.join(map(str, command))} failed:\n{result.stdout}{result.stderr}"
        )
    return result.stdout, result.stderr


class PinTests(SimpleTestCase):
    def test_the_wheel_pins_xmlsec_and_lxml_as_requirements_txt_does(self):
        # The two wheels must carry the same libxml2, or xmlsec refuses to load.
        dependencies = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"][
            "dependencies"
        ]
        requirements = (PROJECT / "requirements.txt").read_text().split()
        for package in ("xmlsec", "lxml"):
            with self.subTest(package=package):
                pinned = next(r for r in requirements if r.startswith(f"{package}=="))
                self.assertIn(pinned, dependencies)

    def test_a_license_is_shipped(self):
        self.assertTrue((PROJECT / "LICENSE").is_file())
        self.assertEqual(
            tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["license"], "MIT"
        )


class WheelTests(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.folder = Path(tempfile.mkdtemp(prefix="saml-idps-wheel-"))
        run(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            cls.folder,
            ".",
            cwd=PROJECT,
        )
        (cls.wheel,) = cls.folder.glob("*.whl")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.folder)
        for leftover in ("build", "django_saml_idps.egg-info"):
            shutil.rmtree(PROJECT / leftover, ignore_errors=True)
        super().tearDownClass()

    def test_the_wheel_holds_only_the_app_with_its_templates_static_and_migrations(self):
        names = zipfile.ZipFile(self.wheel).namelist()
        packages = {name.split("/")[0] for name in names if not name.endswith(".dist-info/")}
        self.assertEqual({p for p in packages if not p.endswith(".dist-info")}, {"saml_idps"})
        for expected in [
            "saml_idps/templates/saml_idps/base.html",
            "saml_idps/static/saml_idps/saml_idps.css",
            "saml_idps/migrations/0001_initial.py",
            "saml_idps/management/commands/saml_idps.py",
            "saml_idps/demo_idp/templates/demo_idp/sign_in.html",
        ]:
            self.assertIn(expected, names)

    def test_a_new_project_following_the_readme_signs_a_user_in(self):
        venv = self.folder / "venv"
        run(sys.executable, "-m", "venv", venv, cwd=self.folder)
        python = venv / "bin" / "python"
        run(python, "-m", "pip", "install", "-q", self.wheel, cwd=self.folder)
        run(venv / "bin" / "django-admin", "startproject", "hostsite", cwd=self.folder)
        site = self.folder / "hostsite"
        with open(site / "hostsite" / "settings.py", "a") as settings:
            settings.write("\n" + snippet("host_settings.py"))
        with open(site / "hostsite" / "urls.py", "a") as urls:
            urls.write("\n" + snippet("host_urls.py"))
        checked = run_with_stderr(python, "manage.py", "check", cwd=site)
        self.assertEqual(checked, ("System check identified no issues (0 silenced).\n", ""))
        run(python, "manage.py", "migrate", "-v", "0", cwd=site)
        self.assertIn("SIGNED IN", run(python, "-c", LOGIN_SCRIPT, cwd=site))
