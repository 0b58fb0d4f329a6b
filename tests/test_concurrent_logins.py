"""First logins racing each other on PostgreSQL, with real concurrent transactions."""

import threading

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import TransactionTestCase, tag

from saml_idps.policy import identity_policy

from .fixtures import register, shared_idp
from .services import POSTGRESQL_ONLY, require_postgresql


@tag(POSTGRESQL_ONLY)
class ConcurrentFirstLoginTests(TransactionTestCase):
    def setUp(self):
        require_postgresql()  # real row-level concurrency
        self.row = register(shared_idp("idp-a"), "idp-a")

    def in_open_transaction(self, work):
        """Run ``work`` in another connection's transaction, committed when the returned
        function is called."""
        started, release = threading.Event(), threading.Event()

        def hold():
            try:
                with transaction.atomic():
                    work()
                    started.set()
                    release.wait(timeout=30)
            finally:
                connection.close()

        thread = threading.Thread(target=hold)
        thread.start()
        started.wait(timeout=30)

        def commit():
            release.set()
            thread.join()

        return commit

    def test_a_username_taken_by_a_concurrent_signup_is_retried_not_a_500(self):
        commit = self.in_open_transaction(
            lambda: get_user_model().objects.create(username="alice@example.com")
        )
        # Our INSERT waits for the other transaction's row, then fails on the unique
        # username once it commits.
        threading.Timer(0.5, commit).start()
        user = identity_policy().create_user(self.row, "alice-at-idp-a", "alice@example.com")
        self.assertEqual(user.username, "alice@example.com2")
        self.assertEqual(user.saml_identities.get().name_id, "alice-at-idp-a")
