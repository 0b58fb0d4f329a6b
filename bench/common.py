"""What the gunicorn benchmarks share: a throw-away PostgreSQL database (samlsite_bench) and
Redis database (14), the site under gunicorn with the README's production settings, an IdP that
signs fast, and a load generator.

Import it first: it points Django at the benchmark database and sets it up.
"""

import http.client
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# PostgreSQL and Redis, as in production: SQLite would serialise the two workers' writes.
SERVER_URL = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")
DATABASE_NAME = "samlsite_bench"
DATABASE_URL = f"{SERVER_URL}/{DATABASE_NAME}"
os.environ["DJANGO_SETTINGS_MODULE"] = "samlsite.settings"
os.environ["DATABASE_URL"] = DATABASE_URL
# This process only builds IdPs and posts responses; the site under test runs in production
# settings (production_environment below). The settings fail closed without one of the two.
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402
import psycopg2  # noqa: E402
import redis  # noqa: E402


def recreate_database():
    admin = psycopg2.connect(f"{SERVER_URL}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {DATABASE_NAME}")
    admin.close()


recreate_database()
redis.Redis.from_url(REDIS_URL).flushdb()
django.setup()

from django.core.management import call_command  # noqa: E402

from saml_idps import idp_metadata, metadata  # noqa: E402
from saml_idps.models import IdentityProvider  # noqa: E402
from tests.idp import TestIdentityProvider  # noqa: E402
from tests.services import AppServer, production_environment  # noqa: E402

call_command("migrate", verbosity=0)

PUBLIC_URL = "http://sso.bench.test"
WORKERS = 2


def start_site(**overrides):
    """The site under gunicorn with the README's production settings and quiet logs."""
    environment = production_environment(
        DATABASE_URL, REDIS_URL, PUBLIC_URL, SAML_LOG_LEVEL="WARNING", **overrides
    )
    return AppServer(environment, workers=WORKERS)


def fast_idp(name="bench"):
    """A test IdP signing in process, so that thousands of responses are made in seconds."""
    return TestIdentityProvider(name)


def register(idp, slug, **fields):
    row = IdentityProvider(slug=slug, name=slug, allow_idp_initiated=True, **fields)
    metadata.register(row, metadata.check_new_copy(row, xml=idp.metadata_xml))
    return row


def register_many(count, template):
    """IdPs idp-0 .. idp-<count-1>, all with ``template``'s key, each with an entity ID of its own
    (https://idp-<n>.example.com/metadata), created in bulk."""
    document = idp_metadata.parse(template.metadata_xml)
    existing = IdentityProvider.objects.filter(slug__startswith="idp-").count()
    rows = []
    for n in range(existing, count):
        row = IdentityProvider(slug=f"idp-{n}", name=f"IdP {n}", allow_idp_initiated=True)
        metadata.apply(row, document)
        row.entity_id = many_entity_id(n)
        row.metadata_xml = document.xml.replace(template.entity_id, row.entity_id)
        rows.append(row)
    IdentityProvider.objects.bulk_create(rows, batch_size=1000)


def many_entity_id(n):
    return f"https://idp-{n}.example.com/metadata"


def acs_url(slug):
    return f"{PUBLIC_URL}/saml/{slug}/acs/"


def sp_entity_id(slug):
    return f"{PUBLIC_URL}/saml/{slug}/metadata/"


def processes(server):
    """gunicorn's master and its workers, by pid."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {"master": pid} | {
        f"worker {n}": int(child) for n, child in enumerate(children.split(), start=1)
    }


def cpu_seconds(server):
    """CPU time the server's processes have used (user + system)."""
    ticks = 0
    for pid in processes(server).values():
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def signed_in_as(idp, slug, user, **signing):
    """A new assertion of ``idp`` for user number ``user`` at our SP for ``slug``, with
    Okta-style attributes."""
    email = f"user{user}@example.com"
    attributes = {"FirstName": ["User"], "LastName": [str(user)], "Email": [email]}
    return idp.response(
        acs_url(slug), sp_entity_id(slug), name_id=email, attributes=attributes, **signing
    )


def load(server, requests, concurrency=4, headers=None):
    """Send ``requests`` to ``server`` from ``concurrency`` threads, each with ``headers``. A
    request is a (method, path, form) tuple, or a function of ``send(method, path, body=None,
    headers=None)`` -> (status, content) that makes several (one cycle, timed as one). Returns
    (requests or cycles/s, median ms, p99 ms, status counts, server CPU ms per request or
    cycle): the last says what one costs however busy the machine is."""
    address = urlsplit(server.url)
    # Encoded before the clock starts: the load generator shares the server's two cores.
    pending = iter(
        [
            request if callable(request) else (request[0], request[1], encoded(request[2]))
            for request in requests
        ]
    )
    lock = threading.Lock()
    latencies, statuses = [], {}

    def send(method, path, body=None, request_headers=None):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        connection.request(
            method, path, body=body, headers={**(headers or {}), **(request_headers or {})}
        )
        response = connection.getresponse()
        content = response.read()
        connection.close()
        with lock:
            statuses[response.status] = statuses.get(response.status, 0) + 1
        return response.status, content

    def worker():
        while True:
            with lock:
                request = next(pending, None)
            if request is None:
                return
            started = time.perf_counter()
            if callable(request):
                request(send)
            else:
                method, path, (body, request_headers) = request
                send(method, path, body, request_headers)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    cpu_before = cpu_seconds(server)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu_ms = (cpu_seconds(server) - cpu_before) * 1000 / len(latencies)
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    return len(latencies) / wall, statistics.median(latencies), p99, statuses, cpu_ms


def encoded(form):
    """The body and headers that post ``form``; none for a GET."""
    if not form:
        return None, {}
    return urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


def report(label, result):
    rate, median, p99, statuses, cpu_ms = result
    print(
        f"{label:<40} {rate:>6.1f} req/s  p50 {median:>5.1f} ms  p99 {p99:>5.1f} ms"
        f"  server CPU {cpu_ms:>4.1f} ms/req  {statuses}"
    )
