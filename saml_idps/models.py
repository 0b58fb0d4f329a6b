from django.conf import settings
from django.db import models
from django.utils import timezone


class IdentityProvider(models.Model):
    """A SAML identity provider (an Okta app, an Entra ID enterprise app, ...) users sign in with.

    Its metadata is fetched by saml_idps.metadata and kept here as the last good copy: logins use
    this copy and never fetch anything.
    """

    slug = models.SlugField(
        unique=True,
        max_length=100,
        help_text="Appears in this IdP's URLs: /saml/<slug>/login/, /saml/<slug>/acs/, ...",
    )
    name = models.CharField(max_length=200, help_text='Shown to users as "Sign in with NAME".')
    metadata_url = models.URLField(
        "metadata URL",
        max_length=2000,
        blank=True,
        help_text="For Okta: https://<org>.okta.com/app/<app id>/sso/saml/metadata",
    )
    metadata_xml = models.TextField(
        "metadata XML",
        blank=True,
        help_text="The last good copy of the IdP's metadata. Paste it here instead of a URL.",
    )
    entity_id = models.CharField("IdP entity ID", max_length=1024, unique=True, editable=False)
    aggregate_entity_id = models.CharField(
        "entity ID in an aggregate",
        max_length=1024,
        blank=True,
        help_text="Only for a metadata URL serving many entities (an EntitiesDescriptor, as "
        "federations publish): the entity ID of this IdP in it.",
    )
    metadata_signing_certificate = models.TextField(
        "pinned metadata signing certificate",
        blank=True,
        help_text="Optional PEM certificate. When set, metadata not signed with it is refused.",
    )
    enabled = models.BooleanField(default=True)
    allow_idp_initiated = models.BooleanField(
        "allow IdP-initiated login",
        default=True,
        help_text="Accept unsolicited responses, as sent by an app tile on the Okta dashboard.",
    )
    metadata_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    metadata_valid_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The metadata's validUntil."
    )
    metadata_refresh_at = models.DateTimeField(
        "next refresh", null=True, blank=True, editable=False, db_index=True
    )
    metadata_etag = models.CharField(max_length=256, blank=True, editable=False)
    metadata_last_modified = models.CharField(max_length=64, blank=True, editable=False)
    # What the metadata_xml says of its signing certificates, kept for the admin list and the
    # expiry check, which must not parse thousands of documents.
    signing_certificates = models.JSONField(default=list, blank=True, editable=False)
    certificates_expire_at = models.DateTimeField(
        null=True, blank=True, editable=False, db_index=True
    )
    last_error = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "identity provider"

    def __str__(self):
        return self.name

    @property
    def metadata_expired(self):
        return self.metadata_valid_until is not None and self.metadata_valid_until <= timezone.now()


class MetadataChange(models.Model):
    """A new copy of an IdP's metadata that was applied: when, from where, and what changed."""

    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="metadata_changes"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=2000, help_text="The metadata URL, or 'pasted XML'.")
    summary = models.TextField()

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self):
        return f"{self.identity_provider.slug} at {self.changed_at:%Y-%m-%d %H:%M}"


class IdentityLink(models.Model):
    """The Django user an IdP's NameID signs in as.

    Users are found through this row, never by an asserted username or email: the same NameID or
    email from two IdPs reaches two different users unless an admin links them.
    """

    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="links"
    )
    name_id = models.CharField("NameID", max_length=512)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saml_identities"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["identity_provider", "name_id"], name="unique_name_id_per_idp"
            )
        ]

    def __str__(self):
        return f"{self.identity_provider.slug}:{self.name_id} -> {self.user}"


class ConsumedAssertion(models.Model):
    """An assertion ID already used to sign in. The unique constraint is the replay check.

    It lives in the database so that every process and instance sharing it refuses a replay.
    """

    issuer = models.CharField(max_length=1024)
    assertion_id = models.CharField(max_length=256)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "assertion_id"], name="unique_assertion")
        ]

    def __str__(self):
        return f"{self.assertion_id} from {self.issuer}"
