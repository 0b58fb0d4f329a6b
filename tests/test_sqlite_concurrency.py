"""The embedded default database under concurrent logins: gunicorn with two workers on one
SQLite file, 56 IdP-initiated logins posted from 8 threads at once, and not one 5xx."""

from concurrent.futures import ThreadPoolExecutor

from django.test import SimpleTestCase

from .fixtures import shared_idp
from .services import SiteOnSqlite

LOGINS, THREADS = 56, 8


class SqliteUnderConcurrentLoginsTests(SimpleTestCase):
    def test_concurrent_logins_get_no_server_error(self):
        idp = shared_idp("idp-a")
        site = SiteOnSqlite(self, idp, workers=2)
        responses = [
            idp.response(
                site.ACS_URL,
                site.SP_ENTITY_ID,
                name_id=f"user{number}@example.com",
                attributes={"Email": [f"user{number}@example.com"]},
            )
            for number in range(LOGINS)
        ]
        with ThreadPoolExecutor(THREADS) as pool:
            statuses = [r.status_code for r in pool.map(site.post_response, responses)]
        self.assertEqual(statuses, [302] * LOGINS, site.server.log_text()[-3000:])
        self.assertEqual(len(site.linked_name_ids()), LOGINS)
