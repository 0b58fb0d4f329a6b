from django.apps import AppConfig


class SamlIdpsConfig(AppConfig):
    name = "saml_idps"
    verbose_name = "SAML identity providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, crypto  # noqa: F401 - registers the system checks

        crypto.install()
