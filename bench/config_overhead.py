"""Per-request cost of getting an IdP's pysaml2 configuration, with 1, 100 and 10,000 IdPs.

    .venv/bin/python bench/config_overhead.py

Uses the benchmark database of bench/common.py (PostgreSQL). Prints, per IdP count, the
medians and p99 of: the row lookup by slug plus the cached SPConfig (what every SAML request
does once warm); getting the IdP's client once the row is known (the cached SPConfig plus the
Saml2Client djangosaml2 builds on it, which reuses the configuration's security context and the
process's SP key); and a cold build (first request after a change: parse the metadata, build
the SPConfig and a client).
"""

import random
import statistics
import time

from common import fast_idp, register_many  # first: it sets Django up
from django.test import RequestFactory
from djangosaml2.overrides import Saml2Client

from saml_idps.config import _built_configs, build_sp_config, cached_sp_config, sp_urls
from saml_idps.models import IdentityProvider

COUNTS = (1, 100, 10_000)
SAMPLES = 300


def timed(function, samples):
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        function()
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return statistics.median(durations), durations[int(len(durations) * 0.99) - 1]


def main():
    template = fast_idp()
    request = RequestFactory().get("/", HTTP_HOST="127.0.0.1:8000")
    print(f"{'IdPs':>6}  {'lookup + cached config':>24}  {'client get':>24}  {'cold build':>10}")
    medians, client_medians = {}, {}
    for count in COUNTS:
        register_many(count, template)
        slugs = [f"idp-{random.randrange(count)}" for _ in range(SAMPLES)]
        for slug in set(slugs):  # warm the cache for the slugs we will ask for
            row = IdentityProvider.objects.get_for_request(slug)
            cached_sp_config(row, sp_urls(row, request))
        picks = iter(slugs * 2)

        def warm_request(picks=picks):
            row = IdentityProvider.objects.get_for_request(next(picks))
            return cached_sp_config(row, sp_urls(row, request))

        hit = timed(warm_request, SAMPLES)
        row = IdentityProvider.objects.get_for_request(slugs[0])
        urls = sp_urls(row, request)
        client = timed(lambda row=row, urls=urls: Saml2Client(cached_sp_config(row, urls)), 2000)
        cold = timed(lambda row=row, urls=urls: Saml2Client(build_sp_config(row, urls)), 10)
        medians[count] = hit[0]
        client_medians[count] = client[0]
        print(
            f"{count:>6}  {hit[0]:>9.3f} ms (p99 {hit[1]:.3f})"
            f"  {client[0] * 1000:>9.1f} us (p99 {client[1] * 1000:.1f})  {cold[0]:>7.1f} ms"
        )
        _built_configs.clear()
    ratio = medians[COUNTS[-1]] / medians[COUNTS[0]]
    print(f"lookup + cached config, {COUNTS[-1]} vs {COUNTS[0]} IdPs: x{ratio:.2f}", end=" ")
    print("(flat)" if ratio < 1.5 else "(NOT flat)")
    worst = max(client_medians.values()) * 1000
    print(f"client get, slowest median: {worst:.1f} us (target < 100 us)")


if __name__ == "__main__":
    main()
