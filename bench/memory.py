"""Memory per process with 10,000 IdPs registered, after 1,000 logins spread over them.

    .venv/bin/python bench/memory.py

Needs PostgreSQL and Redis on 127.0.0.1 (see bench/common.py). Registers 10,000 IdPs, starts
gunicorn with 2 workers, and posts 1,000 IdP-initiated signed responses, each from a different
IdP picked at random, so that each worker builds and caches a configuration per IdP it serves
(SAML_IDPS_CONFIG_CACHE_SIZE, 1,000 by default, bounds them). Prints each process's resident
memory (VmRSS) before and after, and the growth per cached configuration.
"""

import random
from pathlib import Path

from common import (
    PUBLIC_URL,
    fast_idp,
    load,
    many_entity_id,
    processes,
    register_many,
    report,
    signed_in_as,
    start_site,
)
from django.test import override_settings
from saml2.metadata import entity_descriptor

from saml_idps.config import build_sp_config, sp_urls
from saml_idps.models import IdentityProvider

IDPS = 10_000
LOGINS = 1_000


def resident_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def trust_service_providers(idp, numbers):
    """Let the IdP know our SP of each IdP row, from metadata built here, not fetched from the
    site, whose caches must stay cold until the measurement."""
    with override_settings(SAML_IDPS_BASE_URL=PUBLIC_URL):
        for row in IdentityProvider.objects.filter(slug__in=[f"idp-{n}" for n in numbers]):
            idp.trust(str(entity_descriptor(build_sp_config(row, sp_urls(row)))))


def login_from(idp, n, user):
    """A response of IdP idp-<n>: the one key all of them share, issued under n's entity ID."""
    idp.server.config.entityid = many_entity_id(n)
    return signed_in_as(idp, f"idp-{n}", user)


def main():
    idp = fast_idp()
    register_many(IDPS, idp)
    picks = random.Random(7).sample(range(IDPS), LOGINS)
    trust_service_providers(idp, picks)
    posts = [
        ("POST", f"/saml/idp-{n}/acs/", {"SAMLResponse": login_from(idp, n, user)})
        for user, n in enumerate(picks)
    ]
    site = start_site()
    try:
        # Every worker has served a SAML request (pysaml2 and the schemas loaded), through
        # one IdP outside the picks.
        spare = next(n for n in range(IDPS) if n not in set(picks))
        load(site, [("GET", f"/saml/idp-{spare}/login/", None)] * 40)
        before = {name: resident_kib(pid) for name, pid in processes(site).items()}
        result = load(site, posts)
        after = {name: resident_kib(pid) for name, pid in processes(site).items()}
    finally:
        site.stop()

    print(f"{IDPS} IdPs registered, {LOGINS} logins, each through a different IdP")
    report("logins", result)
    print(f"{'process':<10} {'before':>10} {'after':>10} {'growth':>10}")
    for name in before:
        growth = after[name] - before[name]
        print(f"{name:<10} {before[name] / 1024:>7.1f} MiB {after[name] / 1024:>7.1f} MiB"
              f" {growth / 1024:>7.1f} MiB")  # fmt: skip
    workers = [name for name in before if name.startswith("worker")]
    configs = LOGINS / len(workers)
    growth = sum(after[w] - before[w] for w in workers) / len(workers)
    print(f"about {configs:.0f} configurations cached per worker: {growth / configs:.0f} KiB each")


if __name__ == "__main__":
    main()
