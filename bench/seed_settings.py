"""samlsite's settings with the seed's way of building configurations (bench/seed_way.py)."""

from django.apps import AppConfig

from samlsite.settings import *  # noqa: F403


class SeedWay(AppConfig):
    """Switches the views to the seed's way once the apps are loaded."""

    name = "bench"
    label = "bench_seed_way"

    def ready(self):
        import bench.seed_way  # noqa: F401


INSTALLED_APPS = [*INSTALLED_APPS, "bench.seed_settings.SeedWay"]  # noqa: F405
SAML_IDPS_CRYPTO_BACKEND = "xmlsec1"
