import functools
import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from . import consoles, metadata, test_sign_in
from .config import sp_urls
from .forms import IdentityProviderForm
from .models import (
    EmailDomain,
    GroupMapping,
    IdentityLink,
    IdentityProvider,
    LoginAttempt,
    MetadataChange,
    ProtectedGroup,
    ScimEvent,
    ScimToken,
)
from .scim import setup, tokens


class EmailDomainInline(admin.TabularInline):
    model = EmailDomain
    extra = 0
    verbose_name_plural = (
        "email domains (this IdP signs in, creates and links only people with these addresses; "
        '"Sign in with your work email" finds it by them)'
    )


class GroupMappingInline(admin.TabularInline):
    model = GroupMapping
    extra = 0
    verbose_name_plural = "group mappings (values of the groups attribute -> what they grant)"

    def get_readonly_fields(self, request, obj=None):
        # Granting staff or superuser status makes whoever the IdP names so: superusers only.
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ["grants_staff", "grants_superuser"]


class MetadataChangeInline(admin.TabularInline):
    model = MetadataChange
    fields = ["changed_at", "source", "summary"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "metadata changes (each copy applied: when, from where, what changed)"

    def has_add_permission(self, request, obj=None):
        return False


class ScimTokenForm(forms.ModelForm):
    revoke = forms.BooleanField(required=False, help_text="refused from the next request on")

    class Meta:
        model = ScimToken
        fields = []

    def save(self, commit=True):
        if self.cleaned_data.get("revoke") and self.instance.revoked_at is None:
            self.instance.revoked_at = timezone.now()
        return super().save(commit)


class ScimTokenInline(admin.TabularInline):
    model = ScimToken
    form = ScimTokenForm
    fields = ["hint", "label", "created_at", "last_used_at", "revoked_at", "revoke"]
    readonly_fields = ["hint", "label", "created_at", "last_used_at", "revoked_at"]
    extra = 0
    can_delete = False
    verbose_name_plural = (
        "SCIM tokens (only a hash is kept; make one with the button above or manage.py "
        "saml_idps scim-token SLUG; several may be live while the IdP moves to a new one)"
    )

    def has_add_permission(self, request, obj=None):
        return False

    # A token is part of its IdP: whoever may see or change the IdP may see or revoke its tokens.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("saml_idps.view_identityprovider") or (
            self.has_change_permission(request, obj)
        )

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("saml_idps.change_identityprovider")


def signed_in(view):
    """``view``, for signed-in users; others go to the admin's login page."""

    @functools.wraps(view)
    def for_signed_in_users(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return view(request, *args, **kwargs)

    return for_signed_in_users


def shortened(value, length=32):
    """A long value cut to fit a list column, whole in its tooltip."""
    value = str(value or "")
    if len(value) <= length:
        return value
    return format_html('<span title="{}">{}…</span>', value, value[: length - 1])


class AdminStyles:
    """Long values (entity IDs, fingerprints, NameIDs) wrap instead of widening the page."""

    class Media:
        css = {"all": ["saml_idps/admin.css"]}


@admin.register(IdentityProvider)
class IdentityProviderAdmin(AdminStyles, admin.ModelAdmin):
    form = IdentityProviderForm
    change_form_template = "admin/saml_idps/identityprovider/change_form.html"
    list_display = ["name", "slug", "short_entity_id", "enabled", "metadata_status", "expiry"]
    list_filter = ["enabled", "allow_idp_initiated", "create_users"]
    search_fields = ["name", "slug", "entity_id", "email_domains__domain"]
    actions = ["refresh_metadata"]
    inlines = [EmailDomainInline, GroupMappingInline, MetadataChangeInline, ScimTokenInline]
    # What the metadata says and when it was fetched: shown, never edited.
    metadata_facts = [
        "entity_id",
        "metadata_status",
        "certificates",
        "metadata_signature",
        "metadata_fetched_at",
        "metadata_valid_until",
        "metadata_refresh_at",
    ]
    readonly_fields = [
        *metadata_facts,
        "last_assertion",
        "security_warnings",
        "created_at",
        "updated_at",
    ]
    trust_fields = ["aggregate_entity_id", "metadata_signing_certificate"]
    # Our side as an IdP app set up before knows it (Okta's guide, another SP).
    sp_override_fields = ["sp_entity_id", "acs_url"]
    sp_override_title = "This site as the IdP already knows it (optional, to move an app here)"
    add_fieldsets = [
        (None, {"fields": ["slug", "name", "metadata_url"]}),
        ("Or paste the metadata instead of a URL", {"fields": ["metadata_xml"]}),
        ("Attributes (optional)", {"fields": ["attribute_preset"], "classes": ["collapse"]}),
        ("Metadata trust (optional)", {"fields": trust_fields, "classes": ["collapse"]}),
        (sp_override_title, {"fields": sp_override_fields, "classes": ["collapse"]}),
    ]
    fieldsets = [
        (None, {"fields": ["slug", "name", "metadata_url", "enabled"]}),
        (
            "Security",
            {
                "fields": [
                    "security_warnings",
                    "allow_idp_initiated",
                    "required_signatures",
                    "allow_sha1",
                    "sign_authn_requests",
                    "require_encryption",
                    "clock_skew",
                ]
            },
        ),
        (
            "Identity policy",
            {
                "fields": [
                    "create_users",
                    "attribute_preset",
                    "attribute_mapping",
                    "groups_attribute",
                    "remove_unasserted_groups",
                ]
            },
        ),
        ("Provisioning (SCIM)", {"fields": ["scim_enabled", "scim_user_identifier"]}),
        ("Last assertion received", {"fields": ["show_assertion_values", "last_assertion"]}),
        ("Metadata", {"fields": [*metadata_facts, "metadata_xml"]}),
        ("Metadata trust", {"fields": trust_fields, "classes": ["collapse"]}),
        (sp_override_title, {"fields": sp_override_fields, "classes": ["collapse"]}),
        ("Created and changed", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        identity_provider = self.get_object(request, object_id)
        if identity_provider is not None:
            urls = sp_urls(identity_provider, request)
            extra_context = {
                **(extra_context or {}),
                "sp_urls": urls,
                "sign_in_consoles": consoles.for_identity_provider(identity_provider, urls),
                "first_is_this_idp": consoles.product_of(identity_provider.entity_id) is not None,
                "scim_consoles": setup.consoles(identity_provider, urls),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        def named(route, view, name):
            # Not admin_view: signed-in users who are not staff get 403 here, not a login page.
            return path(
                route,
                csrf_protect(never_cache(signed_in(view))),
                name=f"saml_idps_identityprovider_{name}",
            )

        return [
            named("<path:object_id>/scim-token/", self.scim_token_view, "scim_token"),
            named("<path:object_id>/test-sign-in/", self.test_sign_in_view, "test_sign_in"),
            named("<path:object_id>/enable/", self.enable_view, "enable"),
            named(
                "<path:object_id>/test-report/<uuid:test_id>/",
                self.test_report_view,
                "test_report",
            ),
            *super().get_urls(),
        ]

    def changeable(self, request, object_id):
        """The IdP of the URL, if the admin may change it (else 404 or 403)."""
        identity_provider = self.get_object(request, object_id)
        if identity_provider is None:
            raise Http404("No such identity provider.")
        if not (
            self.admin_site.has_permission(request)
            and self.has_change_permission(request, identity_provider)
        ):
            raise PermissionDenied
        return identity_provider

    def test_sign_in_view(self, request, object_id):
        """Start a test sign-in through the IdP (POST): off to the IdP, asked to authenticate
        afresh; its answer ends on the test report."""
        identity_provider = self.changeable(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        test = test_sign_in.start(request, identity_provider)
        login = reverse("saml_idps:login", kwargs={"slug": identity_provider.slug})
        return redirect(f"{login}?test={test.pk}")

    def enable_view(self, request, object_id):
        """Turn sign-in through the IdP on (POST): the test report's last step."""
        identity_provider = self.changeable(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        identity_provider.enabled = True
        identity_provider.save(update_fields=["enabled", "updated_at"])
        self.log_change(request, identity_provider, "Enabled after a test sign-in")
        self.message_user(request, f"{identity_provider} is enabled: people can sign in with it.")
        return redirect("admin:saml_idps_identityprovider_change", identity_provider.pk)

    def test_report_view(self, request, object_id, test_id):
        """The report of a test, once, to the admin who started it, in the same session."""
        identity_provider = self.changeable(request, object_id)
        test = test_sign_in.report_to_show(request, identity_provider, test_id)
        return TemplateResponse(
            request,
            "admin/saml_idps/identityprovider/test_report.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": identity_provider,
                "title": f"Test sign-in through {identity_provider}",
                "report": test.report,
                "report_json": json.dumps(test.report, indent=2),
                "has_change_permission": True,
            },
        )

    def scim_token_view(self, request, object_id):
        """Make a SCIM token for the IdP (POST, by whoever may change it) and show it, once."""
        identity_provider = self.changeable(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        secret = tokens.issue(identity_provider, f"made in the admin by {request.user}")
        self.log_change(request, identity_provider, f"Made SCIM token {secret[:8]}…")
        return TemplateResponse(
            request,
            "admin/saml_idps/identityprovider/scim_token.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": identity_provider,
                "title": f"SCIM token for {identity_provider}",
                "token": secret,
                "scim_consoles": setup.consoles(
                    identity_provider, sp_urls(identity_provider, request)
                ),
            },
        )

    @admin.display(description="metadata")
    def metadata_status(self, identity_provider):
        error = identity_provider.last_error
        if identity_provider.metadata_expired:
            return format_html(
                "<strong>Expired {} UTC: logins refused.</strong> {}",
                f"{identity_provider.metadata_valid_until:%Y-%m-%d %H:%M}",
                f"Last refresh: {error}" if error else "Refresh it now.",
            )
        if error:
            return format_html("Refresh failed, the last good copy is in use. {}", error)
        return "OK"

    @admin.display(description="IdP entity ID", ordering="entity_id")
    def short_entity_id(self, identity_provider):
        return shortened(identity_provider.entity_id, 48)

    @admin.display(description="certificates expire", ordering="certificates_expire_at")
    def expiry(self, identity_provider):
        """The first expiry; the change page lists every certificate with its fingerprint."""
        if identity_provider.certificates_expire_at is None:
            return "-"
        return f"{identity_provider.certificates_expire_at:%Y-%m-%d}"

    @admin.display(description="signing certificates")
    def certificates(self, identity_provider):
        return format_html_join(
            "",
            "<div>{}<br><small>SHA-256 {}</small><br><small>expires {}</small></div>",
            (
                (c["subject"], c["sha256"], c["not_after"][:10])
                for c in identity_provider.signing_certificates
            ),
        )

    @admin.display(description="warnings")
    def security_warnings(self, identity_provider):
        warnings = identity_provider.security_warnings()
        if not warnings:
            return "None: the safe defaults are in place."
        return format_html_join("", '<p class="warning">⚠ {}</p>', ((w,) for w in warnings))

    def save_model(self, request, obj, form, change):
        metadata.register(obj, form.new_copy)  # with the metadata copy the form checked
        for warning in obj.security_warnings():
            self.message_user(request, f"{obj}: {warning}", messages.WARNING)

    @admin.display(description="attributes")
    def last_assertion(self, identity_provider):
        if identity_provider.last_assertion_at is None:
            return "No assertion received yet."
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            (
                (name, ", ".join(values))
                for name, values in sorted(identity_provider.last_assertion_attributes.items())
            ),
        )
        return format_html(
            "<p>Received {} UTC</p><table><tr><th>Attribute</th><th>Values</th></tr>{}</table>",
            f"{identity_provider.last_assertion_at:%Y-%m-%d %H:%M}",
            rows,
        )

    @admin.action(description="Refresh metadata now", permissions=["change"])
    def refresh_metadata(self, request, queryset):
        for identity_provider in queryset:
            result = metadata.refresh(identity_provider)
            level = messages.ERROR if result.outcome == "error" else messages.SUCCESS
            summary = metadata.describe_result(result)
            self.message_user(request, f"{identity_provider}: {summary}", level)


@admin.register(IdentityLink)
class IdentityLinkAdmin(AdminStyles, admin.ModelAdmin):
    """Where an admin links an existing account to an IdP's NameID by hand."""

    list_display = ["name_id", "identity_provider", "user", "created_at", "last_login_at"]
    list_filter = [("identity_provider", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name_id", "user__username", "user__email"]
    raw_id_fields = ["user", "identity_provider"]
    readonly_fields = ["created_at", "last_login_at"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if request.user.is_superuser:
            return form

        class LinkingUnprivilegedOnly(form):
            def clean_user(self):
                user = self.cleaned_data["user"]
                if user is not None and (user.is_staff or user.is_superuser):
                    raise forms.ValidationError(
                        "Only a superuser may link a staff or superuser account: whoever holds "
                        "this NameID at the IdP would sign in as that account."
                    )
                return user

        return LinkingUnprivilegedOnly


class ReadOnlyAdmin(admin.ModelAdmin):
    """An audit log: nobody adds, changes or deletes its entries in the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LoginAttempt)
class LoginAttemptAdmin(AdminStyles, ReadOnlyAdmin):
    """The login audit log."""

    list_display = [
        "created_at",
        "identity_provider",
        "outcome",
        "reason",
        "short_name_id",
        "short_user",
        "client_ip",
    ]
    list_filter = [
        "outcome",
        ("identity_provider", admin.RelatedOnlyFieldListFilter),
        "created_at",
        "reason",
    ]
    date_hierarchy = "created_at"
    search_fields = ["name_id", "user__username", "assertion_id", "client_ip"]

    @admin.display(description="NameID", ordering="name_id")
    def short_name_id(self, attempt):
        return shortened(attempt.name_id)

    @admin.display(description="user", ordering="user")
    def short_user(self, attempt):
        return shortened(attempt.user)


@admin.register(ScimEvent)
class ScimEventAdmin(AdminStyles, ReadOnlyAdmin):
    """The provisioning audit log."""

    list_display = ["created_at", "identity_provider", "action", "status", "token", "client_ip"]
    list_filter = [("identity_provider", admin.RelatedOnlyFieldListFilter), "status", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["action", "client_ip"]


@admin.register(ProtectedGroup)
class ProtectedGroupAdmin(admin.ModelAdmin):
    """Groups no IdP's group mappings ever remove from a user."""
