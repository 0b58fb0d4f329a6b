"""Two instances behind one public URL: separate gunicorn processes sharing PostgreSQL and Redis,
as two hosts behind a load balancer. Whatever one instance learns, the other must act on."""

import json
import re

import redis
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import TransactionTestCase, tag

from saml_idps.models import GroupMapping
from saml_idps.scim import tokens

from .fixtures import admin_change_data, register, shared_idp
from .idp import TestIdentityProvider
from .scim import GROUP_SCHEMA, entra_user, okta_user, patch
from .services import (
    POSTGRESQL_ONLY,
    AppServer,
    production_environment,
    require_postgresql,
    require_redis,
)

PUBLIC_URL = "http://sso.example.test"
ACS_URL = f"{PUBLIC_URL}/saml/idp-a/acs/"
SP_ENTITY_ID = f"{PUBLIC_URL}/saml/idp-a/metadata/"


class Browser:
    """Cookies carried between instances by hand: the site's cookies are Secure, which a
    requests.Session would keep from these plain-HTTP test connections."""

    def __init__(self):
        self.cookies = {}

    def request(self, method, server, path, **kwargs):
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = requests.request(
            method,
            server.url + path,
            headers={"Cookie": cookie},
            allow_redirects=False,
            timeout=30,
            **kwargs,
        )
        self.cookies.update({c.name: c.value for c in response.cookies})
        return response

    def get(self, server, path):
        return self.request("GET", server, path)

    def post(self, server, path, data):
        return self.request("POST", server, path, data=data)


def database_url():
    settings = connection.settings_dict
    return (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )


@tag(POSTGRESQL_ONLY)
class TwoInstancesTests(TransactionTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        require_postgresql()  # instances share a database only on PostgreSQL
        redis_url = require_redis()
        redis.Redis.from_url(redis_url).flushdb()
        environment = production_environment(database_url(), redis_url, PUBLIC_URL)
        cls.a = AppServer(environment)
        cls.addClassCleanup(cls.a.stop)
        cls.b = AppServer(environment)
        cls.addClassCleanup(cls.b.stop)

    def setUp(self):
        self.idp = shared_idp("idp-a")
        self.row = register(self.idp, "idp-a", allow_idp_initiated=True)
        self.sp_metadata = Browser().get(self.a, "/saml/idp-a/metadata/").text
        self.idp.trust(self.sp_metadata)

    def signed_in_email(self, browser, server):
        page = browser.get(server, "/user/")
        self.assertEqual(page.status_code, 200, page.text[:300])
        return re.search(r"[\w.]+@example\.com", page.text).group(0)

    def assertRefused(self, response, code):
        self.assertEqual(response.status_code, 403, response.text[:300])
        self.assertIn(f"<code>{code}</code>", response.text)

    def test_a_login_begun_on_one_instance_completes_on_the_other(self):
        browser = Browser()
        redirect = browser.get(self.a, "/saml/idp-a/login/")
        self.assertEqual(redirect.status_code, 302)
        saml_response, relay_state = self.idp.answer(redirect.headers["Location"])
        landed = browser.post(
            self.b, "/saml/idp-a/acs/", {"SAMLResponse": saml_response, "RelayState": relay_state}
        )
        self.assertEqual((landed.status_code, landed.headers["Location"]), (302, "/user/"))
        self.assertEqual(self.signed_in_email(browser, self.b), "alice@example.com")
        self.assertEqual(self.signed_in_email(browser, self.a), "alice@example.com")

    def test_an_assertion_consumed_on_one_instance_is_a_replay_on_the_other(self):
        saml_response = self.idp.response(ACS_URL, SP_ENTITY_ID)
        consumed = Browser().post(self.a, "/saml/idp-a/acs/", {"SAMLResponse": saml_response})
        self.assertEqual(consumed.status_code, 302, consumed.text[:300])
        replayed = Browser().post(self.b, "/saml/idp-a/acs/", {"SAMLResponse": saml_response})
        self.assertRefused(replayed, "replay")

    def test_a_metadata_change_saved_on_one_instance_is_used_by_the_other(self):
        rotated = TestIdentityProvider("idp-a-rotated", entity_id=self.idp.entity_id)
        rotated.trust(self.sp_metadata)
        # Instance B has built and cached its configuration with the old certificate.
        old_key = Browser().post(
            self.b, "/saml/idp-a/acs/", {"SAMLResponse": self.idp.response(ACS_URL, SP_ENTITY_ID)}
        )
        self.assertEqual(old_key.status_code, 302, old_key.text[:300])

        admin = self.admin_signed_in_on(self.a)
        saved = admin.post(
            self.a,
            f"/admin/saml_idps/identityprovider/{self.row.pk}/change/",
            {
                **admin_change_data(self.row, metadata_xml=rotated.metadata_xml),
                "csrfmiddlewaretoken": admin.cookies["csrftoken"],
            },
        )
        self.assertEqual(saved.status_code, 302, saved.text[:2000])

        self.assertRefused(
            Browser().post(
                self.b,
                "/saml/idp-a/acs/",
                {"SAMLResponse": self.idp.response(ACS_URL, SP_ENTITY_ID)},
            ),
            "signature_invalid",
        )
        new_key = Browser().post(
            self.b, "/saml/idp-a/acs/", {"SAMLResponse": rotated.response(ACS_URL, SP_ENTITY_ID)}
        )
        self.assertEqual(new_key.status_code, 302, new_key.text[:300])

    def admin_signed_in_on(self, server):
        get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pass-1")
        browser = Browser()
        browser.get(server, "/admin/login/")
        signed_in = browser.post(
            server,
            "/admin/login/",
            {
                "username": "admin",
                "password": "admin-pass-1",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                "next": "/admin/",
            },
        )
        self.assertEqual(signed_in.status_code, 302, signed_in.text[:300])
        return browser

    def scim(self, server, method, path, body=None):
        response = requests.request(
            method,
            f"{server.url}/scim/idp-a/v2{path}",
            data=json.dumps(body) if body is not None else None,
            headers={
                "Authorization": f"Bearer {self.scim_token}",
                "Content-Type": "application/scim+json",
            },
            timeout=30,
        )
        self.assertLess(response.status_code, 300, response.text[:500])
        return response.json() if response.content else None

    def enable_provisioning(self):
        self.row.scim_enabled = True
        self.row.save()
        self.scim_token = tokens.issue(self.row)

    def sign_in_on(self, server, browser=None):
        browser = browser or Browser()
        saml_response = self.idp.response(ACS_URL, SP_ENTITY_ID)
        return browser, browser.post(server, "/saml/idp-a/acs/", {"SAMLResponse": saml_response})

    def assertSignedOut(self, browser, server):
        page = browser.get(server, "/user/")
        self.assertEqual(page.status_code, 302, page.text[:300])

    def test_okta_provisions_and_deactivates_on_one_instance_and_the_other_acts_on_it(self):
        self.enable_provisioning()
        lookup = self.scim(self.a, "GET", '/Users?filter=userName eq "alice@example.com"')
        self.assertEqual(lookup["totalResults"], 0)
        alice = self.scim(self.a, "POST", "/Users", okta_user("alice@example.com"))
        browser, landed = self.sign_in_on(self.b)
        self.assertEqual(landed.status_code, 302, landed.text[:300])
        self.assertEqual(self.signed_in_email(browser, self.a), "alice@example.com")
        self.assertEqual(get_user_model().objects.count(), 1)

        deactivate = patch({"op": "replace", "value": {"active": False}})
        self.scim(self.b, "PATCH", f"/Users/{alice['id']}", deactivate)
        self.assertSignedOut(browser, self.a)
        self.assertRefused(self.sign_in_on(self.a)[1], "deactivated")

        reactivate = patch({"op": "replace", "value": {"active": True}})
        self.scim(self.a, "PATCH", f"/Users/{alice['id']}", reactivate)
        browser, landed = self.sign_in_on(self.b)
        self.assertEqual(self.signed_in_email(browser, self.b), "alice@example.com")
        self.assertEqual(get_user_model().objects.count(), 1)

    def test_entra_ids_group_push_and_deactivation_reach_the_other_instance(self):
        self.enable_provisioning()
        engineering = Group.objects.create(name="engineering")
        GroupMapping.objects.create(
            identity_provider=self.row, value="Engineering", group=engineering
        )
        alice = self.scim(self.b, "POST", "/Users", entra_user("alice@example.com"))
        group = self.scim(
            self.a, "POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Engineering"}
        )
        add = patch({"op": "Add", "path": "members", "value": [{"value": alice["id"]}]})
        self.scim(self.b, "PATCH", f"/Groups/{group['id']}", add)
        browser, landed = self.sign_in_on(self.a)
        self.assertEqual(landed.status_code, 302, landed.text[:300])
        account = get_user_model().objects.get()
        self.assertEqual(list(account.groups.all()), [engineering])

        deactivate = patch({"op": "Replace", "path": "active", "value": "False"})
        self.scim(self.a, "PATCH", f"/Users/{alice['id']}", deactivate)
        self.assertSignedOut(browser, self.b)
        self.assertRefused(self.sign_in_on(self.b)[1], "deactivated")
        self.assertEqual(list(account.groups.all()), [])
