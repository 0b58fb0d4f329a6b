from django.contrib import admin

from .config import sp_urls
from .forms import IdentityProviderForm
from .models import IdentityLink, IdentityProvider


@admin.register(IdentityProvider)
class IdentityProviderAdmin(admin.ModelAdmin):
    form = IdentityProviderForm
    change_form_template = "admin/saml_idps/identityprovider/change_form.html"
    list_display = [
        "name",
        "slug",
        "entity_id",
        "enabled",
        "allow_idp_initiated",
        "metadata_fetched_at",
    ]
    list_filter = ["enabled", "allow_idp_initiated"]
    search_fields = ["name", "slug", "entity_id"]
    readonly_fields = ["entity_id", "metadata_fetched_at", "last_error", "created_at", "updated_at"]
    prepopulated_fields = {"slug": ["name"]}
    add_fieldsets = [
        (None, {"fields": ["slug", "name", "metadata_url"]}),
        ("Or paste the metadata instead of a URL", {"fields": ["metadata_xml"]}),
    ]
    fieldsets = [
        (None, {"fields": ["slug", "name", "metadata_url", "enabled", "allow_idp_initiated"]}),
        (
            "Metadata",
            {"fields": ["entity_id", "metadata_fetched_at", "last_error", "metadata_xml"]},
        ),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        identity_provider = self.get_object(request, object_id)
        if identity_provider is not None:
            extra_context = {
                **(extra_context or {}),
                "sp_urls": sp_urls(identity_provider, request),
            }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(IdentityLink)
class IdentityLinkAdmin(admin.ModelAdmin):
    list_display = ["name_id", "identity_provider", "user", "created_at", "last_login_at"]
    list_filter = ["identity_provider"]
    search_fields = ["name_id", "user__username", "user__email"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "last_login_at"]
