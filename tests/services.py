"""The machine's services for tests that need more than the test database: Redis, and app
servers run as processes of their own. In CI they must be there: no skipping."""

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import requests
from django.db import connection
from saml2.sigver import SigverError, get_xmlsec_binary

from saml_idps import keys

from .fixtures import free_port

ROOT = Path(__file__).resolve().parent.parent
REDIS_ADDRESS = ("127.0.0.1", 6379)
# A Redis database of its own, so that tests never touch data of anything else on the machine.
REDIS_URL = "redis://127.0.0.1:6379/15"


def require(reason):
    """Skip the test for ``reason``, except in CI, where a missing service is a failure."""
    if os.environ.get("CI"):
        raise RuntimeError(f"This test cannot run in CI: {reason}")
    raise unittest.SkipTest(reason)


XMLSEC1_MISSING = (
    "the xmlsec1 program is not installed (Debian/Ubuntu: sudo apt-get install xmlsec1); "
    "verdicts are compared with pysaml2's own xmlsec1 backend only where it is"
)


def require_xmlsec1():
    """pysaml2's stock backend, which runs the xmlsec1 program: the other side of the
    differential tests. The site and the test IdPs need no such program."""
    try:
        get_xmlsec_binary()
    except SigverError:
        require(XMLSEC1_MISSING)


def require_redis():
    try:
        socket.create_connection(REDIS_ADDRESS, timeout=1).close()
    except OSError:
        require(
            "Redis is not listening on 127.0.0.1:6379 "
            "(Debian/Ubuntu: sudo apt-get install redis-server)"
        )
    return REDIS_URL


POSTGRESQL_ONLY = "postgresql"  # the tag of tests that need PostgreSQL (see .ci/run)


def require_postgresql():
    """For tests tagged POSTGRESQL_ONLY: several connections really at once, shared by several
    processes. A run on SQLite excludes them by their tag (TEST_EXCLUDE_TAGS=postgresql);
    otherwise they skip, and in CI fail."""
    if connection.vendor != "postgresql":
        require(
            "runs on PostgreSQL only: DATABASE_URL=postgres://postgres@127.0.0.1:5432/samlsite "
            "make test (Debian/Ubuntu: sudo apt-get install postgresql)"
        )


def redis_cache(location):
    return {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": location}}


def production_environment(database_url, redis_url, public_url, **overrides):
    """The README's production settings for AppServers sharing ``database_url`` and
    ``redis_url`` behind ``public_url``, with this process's SP key pair."""
    pair = keys.current()
    return {
        "DEBUG": "0",
        "SECRET_KEY": "app-server-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SAML_BASE_URL": public_url,
        "SAML_SP_KEY_FILE": pair.key_file,
        "SAML_SP_CERT_FILE": pair.cert_file,
        **overrides,
    }


class AppServer:
    """``gunicorn samlsite.wsgi`` (the README's production command) on a port of its own, with
    ``environment`` on top of this process's, stopped by ``stop()``."""

    def __init__(self, environment, workers=1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "gunicorn", "samlsite.wsgi",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
        ]  # fmt: skip
        # A file, not a pipe: nobody reads the log while the server runs, and a full pipe
        # would block it.
        self.log = tempfile.NamedTemporaryFile(suffix=".log")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **environment},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until_healthy()

    def wait_until_healthy(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_text()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or still loading Django
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn on port {self.port} did not become healthy")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def log_text(self):
        return Path(self.log.name).read_text()


class SiteOnSqlite:
    """The site under gunicorn (``workers`` processes) on a SQLite file of its own, with
    ``idp`` registered as slug ``idp-a`` and trusting our SP metadata: the embedded default
    as it runs, for tests that post from many threads at once."""

    PUBLIC_URL = "http://sso.example.test"
    ACS_URL = f"{PUBLIC_URL}/saml/idp-a/acs/"
    SP_ENTITY_ID = f"{PUBLIC_URL}/saml/idp-a/metadata/"

    def __init__(self, test_case, idp, workers=2):
        folder = Path(tempfile.mkdtemp(prefix="site-on-sqlite-"))
        self.database = folder / "db.sqlite3"
        self.environment = production_environment(f"sqlite:///{self.database}", "", self.PUBLIC_URL)
        self.manage("migrate", "-v", "0")
        metadata_file = folder / "idp.xml"
        metadata_file.write_text(idp.metadata_xml)
        self.manage("saml_idps", "add", "idp-a", "--metadata-file", str(metadata_file))
        self.server = AppServer(self.environment, workers=workers)
        test_case.addCleanup(self.server.stop)
        idp.trust(requests.get(f"{self.server.url}/saml/idp-a/metadata/", timeout=10).text)

    def manage(self, *arguments):
        subprocess.run(
            [sys.executable, "manage.py", *arguments],
            cwd=ROOT,
            env={**os.environ, **self.environment},
            check=True,
            capture_output=True,
        )

    def post_response(self, saml_response, relay_state=""):
        return requests.post(
            f"{self.server.url}/saml/idp-a/acs/",
            data={"SAMLResponse": saml_response, "RelayState": relay_state},
            allow_redirects=False,
            timeout=30,
        )

    def linked_name_ids(self):
        with sqlite3.connect(self.database) as database:
            return [
                row[0] for row in database.execute("SELECT name_id FROM saml_idps_identitylink")
            ]
