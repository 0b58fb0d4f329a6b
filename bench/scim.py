"""SCIM provisioning: Okta's user lookup with 1,000 to 100,000 provisioned users, and a create +
deactivate cycle.

    .venv/bin/python bench/scim.py

Needs PostgreSQL and Redis on 127.0.0.1 (see bench/common.py). gunicorn with 2 workers, 4 client
threads. The lookup is what Okta sends before every push, GET /Users?filter=userName eq "...",
for users picked at random; its rate must not fall as users are added (an index, not a scan):
the query plan is printed too. The users are written in bulk as the service writes them (each
a copy of one the service itself provisioned: account, link and SCIM resource). A cycle is a
POST /Users and Okta's PATCH deactivating that user: account created, then deactivated.
"""

import json
import random
import uuid
from urllib.parse import quote

from common import fast_idp, load, register, report, start_site
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection
from scim2_models import User

from saml_idps.models import IdentityLink, ScimResource
from saml_idps.scim import tokens
from saml_idps.scim.storage import RESOURCE_TYPES, IdentityProviderStorage

SLUG = "bench"
SIZES = (1_000, 10_000, 100_000)
LOOKUPS = 3000
CYCLES = 1000
WARM_UP = 50
BATCH = 5000


def provision(row, count):
    """Provisioned users user0@example.com .. up to ``count``, copies of one the service made."""
    existing = ScimResource.objects.filter(identity_provider=row).count()
    if existing == 0:
        IdentityProviderStorage(row).create(
            RESOURCE_TYPES["User"],
            User(user_name="user0@example.com", active=True, name={"givenName": "User"}),
        )
        existing = 1
    template = ScimResource.objects.filter(identity_provider=row).earliest("pk").data
    for start in range(existing, count, BATCH):
        numbers = range(start, min(count, start + BATCH))
        names = [f"user{n}@example.com" for n in numbers]
        users = get_user_model().objects.bulk_create(
            get_user_model()(username=name, email=name, password=make_password(None))
            for name in names
        )
        links = IdentityLink.objects.bulk_create(
            IdentityLink(identity_provider=row, name_id=name, user=user)
            for name, user in zip(names, users, strict=True)
        )
        resources = []
        for name, link in zip(names, links, strict=True):
            scim_id = uuid.uuid4().hex
            data = template | {"id": scim_id, "userName": name}
            resources.append(
                ScimResource(
                    identity_provider=row,
                    resource_type="User",
                    scim_id=scim_id,
                    name_key=name,
                    data=data,
                    link=link,
                )
            )
        ScimResource.objects.bulk_create(resources)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def lookup_path(n):
    return "/scim/bench/v2/Users?filter=" + quote(f'userName eq "user{n}@example.com"')


def query_plan(row):
    rows = ScimResource.objects.filter(
        identity_provider=row, resource_type="User", name_key="user7@example.com"
    )
    return rows.explain().splitlines()[0]


def cycle(number):
    def create_and_deactivate(send):
        user = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"cycle{number}@example.com",
            "active": True,
        }
        _, content = send("POST", "/scim/bench/v2/Users", json.dumps(user))
        deactivate = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        }
        send("PATCH", f"/scim/bench/v2/Users/{json.loads(content)['id']}", json.dumps(deactivate))

    return create_and_deactivate


def main():
    row = register(fast_idp(), SLUG, scim_enabled=True)
    headers = {
        "Authorization": f"Bearer {tokens.issue(row)}",
        "Content-Type": "application/scim+json",
    }
    results = []
    for size in SIZES:
        provision(row, size)
        site = start_site()
        try:
            picks = [random.randrange(size) for _ in range(WARM_UP + LOOKUPS)]
            warm_up = [("GET", lookup_path(n), None) for n in picks[:WARM_UP]]
            load(site, warm_up, headers=headers)
            lookups = [("GET", lookup_path(n), None) for n in picks[WARM_UP:]]
            results.append((size, load(site, lookups, headers=headers), query_plan(row)))
        finally:
            site.stop()
    site = start_site()
    try:
        load(site, [cycle(-n) for n in range(1, WARM_UP + 1)], headers=headers)
        cycles = load(site, [cycle(n) for n in range(CYCLES)], headers=headers)
    finally:
        site.stop()
    print("SCIM, gunicorn with 2 workers, 4 client threads, PostgreSQL + Redis")
    for size, result, plan in results:
        report(f'userName eq "..." with {size:,} users', result)
        print(f"  plan: {plan}")
    report(f"create + deactivate cycle ({CYCLES:,} cycles)", cycles)
    print("target: the lookup rate flat from 1,000 to 100,000 users")


if __name__ == "__main__":
    main()
