"""The home page with 10,000 registered IdPs: listing, search and email discovery.

    .venv/bin/python bench/home_page.py

Uses a throw-away SQLite database and Django's test client (no network). Prints the median and
p99 time of each request and how many links the page holds.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "samlsite.settings"
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
os.environ.setdefault("DEBUG", "1")  # the settings fail closed; a local bench is development

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from saml_idps.models import EmailDomain, IdentityProvider  # noqa: E402

COUNT = 10_000
SAMPLES = 200


def timed(client, params):
    durations = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        response = client.get("/", params, HTTP_HOST="127.0.0.1")
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return statistics.median(durations), durations[int(SAMPLES * 0.99) - 1], response


def main():
    call_command("migrate", verbosity=0)
    IdentityProvider.objects.bulk_create(
        (
            IdentityProvider(slug=f"org-{n}", name=f"Organisation {n:05}", entity_id=f"urn:{n}")
            for n in range(COUNT)
        ),
        batch_size=1000,
    )
    EmailDomain.objects.bulk_create(
        EmailDomain(identity_provider_id=pk, domain=f"{slug}.example.com")
        for pk, slug in IdentityProvider.objects.values_list("pk", "slug")
    )
    client = Client()
    print(f"{COUNT} IdPs, {COUNT} email domains")
    for label, params in [
        ("home page", {}),
        ("search by name", {"q": "Organisation 04242"}),
        ("email discovery", {"email": "pat@org-7777.example.com"}),
    ]:
        median, p99, response = timed(client, params)
        links = response.content.count(b"Sign in with Organisation")
        outcome = (
            f"redirect to {response['Location']}"
            if response.status_code == 302
            else (f"{links} links")
        )
        print(f"{label:>16}: {median:6.2f} ms median, {p99:6.2f} ms p99, {outcome}")


if __name__ == "__main__":
    main()
