"""SP-initiated login: how many signed AuthnRequest redirects per second the site answers.

    .venv/bin/python bench/login_redirect.py

Needs PostgreSQL and Redis on 127.0.0.1 (see bench/common.py). gunicorn with 2 workers, 4 client
threads, each request a new browser: GET /saml/<slug>/login/ answered by a 302 to the IdP with
a signed AuthnRequest (RSA-SHA256), its pending request stored in a new session.
"""

from common import fast_idp, load, register, report, start_site

SLUG = "bench"
REQUESTS = 5000
WARM_UP = 50


def main():
    register(fast_idp(), SLUG)
    site = start_site()
    try:
        load(site, [("GET", f"/saml/{SLUG}/login/", None)] * WARM_UP)
        result = load(site, [("GET", f"/saml/{SLUG}/login/", None)] * REQUESTS)
    finally:
        site.stop()
    print(f"SP-initiated login redirect, gunicorn with 2 workers, 4 client threads ({REQUESTS})")
    report("signed AuthnRequest redirect", result)
    print("target >= 500 req/s")


if __name__ == "__main__":
    main()
