from django.apps import AppConfig


class DemoIdpConfig(AppConfig):
    name = "saml_idps.demo_idp"
    label = "demo_idp"
    verbose_name = "Demo SAML IdP (development only)"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system check
