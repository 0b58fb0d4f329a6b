import time

import requests
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from saml_idps import metadata
from saml_idps.forms import IdentityProviderForm
from saml_idps.models import IdentityProvider


class Command(BaseCommand):
    help = (
        "Register the demo IdP as slug 'demo' by its metadata URL, as an admin would, once the "
        "site answers there. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the site")

    def handle(self, base_url, wait, **options):
        url = base_url.rstrip("/") + reverse("demo_idp:metadata", args=["demo"])
        wait_for(url, wait)
        existing = IdentityProvider.objects.filter(slug="demo").first()
        if existing is None:
            form = IdentityProviderForm(
                data={"slug": "demo", "name": "Demo IdP", "metadata_url": url}
            )
            if not form.is_valid():
                raise CommandError(f"Could not register the demo IdP: {form.errors.as_text()}")
            form.save()
            self.stdout.write(f"Registered the demo IdP (slug 'demo') from {url}")
            return
        result = metadata.refresh(existing)
        if result.outcome == "error":
            raise CommandError(f"Could not refresh the demo IdP: {result.detail}")
        if result.outcome == "unchanged":
            self.stdout.write("The demo IdP (slug 'demo') is registered and up to date.")
        else:
            self.stdout.write(f"Updated the demo IdP's metadata from {url}: {result.detail}")


def wait_for(url, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError as error:
            if time.monotonic() > deadline:
                raise CommandError(f"The site did not answer at {url}") from error
            time.sleep(0.5)
