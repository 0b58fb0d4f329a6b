"""/healthz, for load balancers and orchestrators."""

import secrets

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def database_answers():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def cache_answers():
    """A round trip through Django's cache: Redis when REDIS_URL is set."""
    token = secrets.token_hex(8)
    cache.set("samlsite:healthz", token, timeout=10)
    return cache.get("samlsite:healthz") == token


CHECKS = {"database": database_answers, "cache": cache_answers}


@never_cache
@require_GET
def healthz(request):
    """200 when the database and the cache answer; 503 naming what does not."""
    results = {}
    for name, answers in CHECKS.items():
        try:
            results[name] = "ok" if answers() else "wrong answer"
        except Exception as error:  # noqa: BLE001 - whatever fails makes the instance unhealthy
            results[name] = f"unavailable ({type(error).__name__})"
    healthy = all(result == "ok" for result in results.values())
    return JsonResponse(results, status=200 if healthy else 503)
