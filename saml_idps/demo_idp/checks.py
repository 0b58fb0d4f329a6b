from django.conf import settings
from django.core.checks import Error, register


@register()
def check_not_in_production(app_configs, **kwargs):
    """The demo IdP signs anyone in as anyone: it must never run with DEBUG off."""
    if settings.DEBUG:
        return []
    return [
        Error(
            "The demo IdP is enabled while DEBUG is off.",
            hint="Unset DEMO_IDP (or set DEMO_IDP=0) in production.",
            id="demo_idp.E001",
        )
    ]
