"""The wheel of saml_idps, installed beside a brand-new Django project by the README's steps,
signs a user in there: proof the app does not lean on samlsite."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from django.test import SimpleTestCase

PROJECT = Path(__file__).resolve().parent.parent

# Runs inside the new project's virtualenv: a test IdP (pysaml2's Server, from tests/idp.py)
# registered through the CLI, then an IdP-initiated login through the Django test client.
LOGIN_SCRIPT = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "hostsite.settings"
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from idp import TestIdentityProvider

setup_test_environment()
idp = TestIdentityProvider("host-idp")
with open("idp.xml", "w") as handle:
    handle.write(idp.metadata_xml)
call_command("saml_idps", "add", "corp", "--metadata-file", "idp.xml", "--name", "Corp")
client = Client()
idp.trust(client.get("/saml/corp/metadata/").content.decode())
response = client.post("/saml/corp/acs/", {"SAMLResponse": idp.response(
    "http://testserver/saml/corp/acs/", "http://testserver/saml/corp/metadata/")})
assert response.status_code == 302, response.content[:1000]
assert response["Location"] == "/user/", response["Location"]
page = client.get("/user/")
assert b"alice@example.com" in page.content, page.content[:1000]
print("SIGNED IN")
"""


def readme_block(name):
    """The code block of the README between <!-- name --> and <!-- /name -->."""
    readme = (PROJECT / "README.md").read_text()
    section = readme.split(f"<!-- {name} -->")[1].split(f"<!-- /{name} -->")[0]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def run(*command, cwd):
    # The new project has settings and a database of its own, not this suite's.
    env = {
        k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
    }
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise AssertionError(
            f"{' '.join(map(str, command))} failed:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


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
            settings.write("\n" + readme_block("host-settings"))
        with open(site / "hostsite" / "urls.py", "a") as urls:
            urls.write("\n" + readme_block("host-urls"))
        shutil.copy(PROJECT / "tests" / "idp.py", site / "idp.py")
        self.assertIn("no issues", run(python, "manage.py", "check", cwd=site))
        run(python, "manage.py", "migrate", "-v", "0", cwd=site)
        self.assertIn("SIGNED IN", run(python, "-c", LOGIN_SCRIPT, cwd=site))
