"""/healthz: 200 when the database and the cache answer, 503 naming what does not."""

import json
import os
import subprocess
import sys

from django.test import TestCase, override_settings

from .fixtures import free_port
from .services import ROOT, redis_cache, require_redis


class HealthTests(TestCase):
    def test_answers_200_when_database_and_cache_answer(self):
        response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"database": "ok", "cache": "ok"})
        self.assertIn("no-cache", response["Cache-Control"])

    def test_answers_200_with_redis_as_the_cache(self):
        with override_settings(CACHES=redis_cache(require_redis())):
            self.assertEqual(self.client.get("/healthz").json()["cache"], "ok")

    def test_answers_503_when_redis_does_not_answer(self):
        with override_settings(CACHES=redis_cache(f"redis://127.0.0.1:{free_port()}/0")):
            response = self.client.get("/healthz")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["database"], "ok")
        self.assertIn("unavailable", response.json()["cache"])

    def test_answers_503_when_the_database_does_not_answer(self):
        probe = (
            "import django, json; django.setup(); from django.test import Client;"
            "r = Client().get('/healthz', HTTP_HOST='localhost');"
            "print(json.dumps([r.status_code, r.json()]))"
        )
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "samlsite.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nothing",
        }
        output = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        status, body = json.loads(output.strip().splitlines()[-1])
        self.assertEqual(status, 503)
        self.assertIn("unavailable", body["database"])
        self.assertEqual(body["cache"], "ok")

    @override_settings(SECURE_SSL_REDIRECT=True)
    def test_is_not_redirected_to_https(self):
        self.assertEqual(self.client.get("/healthz").status_code, 200)

    def test_only_answers_get(self):
        self.assertEqual(self.client.post("/healthz").status_code, 405)
