"""ACS throughput under gunicorn with 2 workers: this project's way against the seed's way.

    .venv/bin/python bench/acs_throughput.py

Needs PostgreSQL and Redis on 127.0.0.1 (see bench/common.py) and the xmlsec1 program (the
seed's way uses it). Posts IdP-initiated, signed SAMLResponses of one IdP, each a new assertion
for one of 50 users, from 4 client threads, to:
  - the site as configured (cached configuration, signatures checked in process), with a
    response and assertion both signed (Okta's default) and with the assertion alone signed;
  - the same site in the seed's way (bench/seed_way.py: the metadata fetched over HTTP from a
    local server and a new configuration built for every request, stock pysaml2 and xmlsec1).
Prints requests/s, p50, p99 and the server's CPU time per request per case, the ratio of the
two ways, and what the server's CPU time alone allows on two cores.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import fast_idp, load, register, report, signed_in_as, start_site

SLUG = "bench"
USERS = 50
REQUESTS = 2000
SEED_REQUESTS = 200
WARM_UP = 20


def serve_metadata(document):
    """The IdP's metadata at a local URL, as Okta serves it."""
    body = document.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/metadata"


def acs_posts(idp, count, **signing):
    path = f"/saml/{SLUG}/acs/"
    return [
        ("POST", path, {"SAMLResponse": signed_in_as(idp, SLUG, n % USERS, **signing)})
        for n in range(count)
    ]


def measure(site, idp, count, **signing):
    load(site, acs_posts(idp, WARM_UP, **signing))
    return load(site, acs_posts(idp, count, **signing))


def main():
    idp = fast_idp()
    register(idp, SLUG)
    metadata_server, metadata_url = serve_metadata(idp.metadata_xml)
    both = {"sign_response": True, "sign_assertion": True}
    once = {"sign_response": False, "sign_assertion": True}

    site = start_site()
    try:
        idp.trust(load_text(site, f"/saml/{SLUG}/metadata/"))
        ours_both = measure(site, idp, REQUESTS, **both)
        ours_once = measure(site, idp, REQUESTS, **once)
    finally:
        site.stop()

    seed = start_site(
        DJANGO_SETTINGS_MODULE="bench.seed_settings", BENCH_SEED_METADATA_URL=metadata_url
    )
    try:
        seed_both = measure(seed, idp, SEED_REQUESTS, **both)
    finally:
        seed.stop()
        metadata_server.shutdown()

    print(f"ACS, gunicorn with 2 workers, 4 client threads, PostgreSQL ({REQUESTS} requests)")
    report("this project, response + assertion signed", ours_both)
    report("this project, assertion signed", ours_once)
    report("seed's way, response + assertion signed", seed_both)
    ratio = ours_both[0] / seed_both[0]
    print(f"both signed: this project / seed's way = x{ratio:.1f} (target x8, >= 100 req/s)")
    print(f"signed once: {ours_once[0]:.1f} req/s (target >= 150 req/s)")
    for label, result in (("both signed", ours_both), ("signed once", ours_once)):
        ceiling = 2000 / result[4]
        print(f"{label}: the server's CPU alone allows at most {ceiling:.0f} req/s on 2 cores")


def load_text(site, path):
    import requests

    return requests.get(site.url + path, timeout=30).text


if __name__ == "__main__":
    main()
