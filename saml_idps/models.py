"""The app's tables: IdentityProvider, and around it the email domains and group mappings an
admin gives it, the protected groups, the links of (IdP, NameID) to users, the audit log, the
metadata history and the replay record.

Longer than ~400 lines because IdentityProvider's thirty-odd settings carry the help texts the
admin shows next to each field; Django's own contrib.auth keeps its models in one file too.
"""

import functools
import re
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, ProhibitNullCharactersValidator
from django.db import models
from django.utils import timezone

from .normalize import normalize_email
from .presets import default_attribute_mapping

# A clock skew beyond RISKY_CLOCK_SKEW seconds is warned about; beyond MAX_CLOCK_SKEW, refused.
RISKY_CLOCK_SKEW = 300
MAX_CLOCK_SKEW = 600

DOMAIN = re.compile(r"^(?=.{1,253}$)([\w-]{1,63}\.)+[\w-]{2,63}$")


def validate_entity_id(value):
    """An entity ID is a URI: no spaces anywhere in it (the field caps its length)."""
    if not value.strip() or any(character.isspace() for character in value):
        raise ValidationError("An entity ID has no spaces. Leave the field empty for the default.")


def validate_absolute_http_url(value):
    """An absolute http(s) URL with a host (an intranet host without a dot included)."""
    refusal = ValidationError(
        "Enter an absolute http:// or https:// URL, like https://sso.example.com/saml/sso/acme."
    )
    try:
        parts = urlsplit(value)
        has_host = bool(parts.hostname)
    except ValueError:
        raise refusal from None
    if parts.scheme not in ("http", "https") or not has_host or any(c.isspace() for c in value):
        raise refusal


class IdentityProviderQuerySet(models.QuerySet):
    def for_requests(self):
        """Rows without the large fields the SAML endpoints do not read on every request: the
        metadata is read only to build a configuration, which each process caches (config.py)."""
        return self.defer(
            "metadata_xml", "metadata_signing_certificate", "signing_certificates", "last_error"
        )


class IdentityProviderManager(models.Manager.from_queryset(IdentityProviderQuerySet)):
    def get_for_request(self, slug):
        """``for_requests().get(slug=slug)`` with its SQL compiled once per process: on the SAML
        endpoints, compiling that query of some thirty columns cost as much as running it."""
        rows = list(self.raw(_sql_for_request(self.db), [slug]))
        if not rows:
            raise self.model.DoesNotExist(f"No identity provider {slug!r}.")
        return rows[0]


# Django has no public way to get a queryset's SQL with its placeholders (str(query) fills them
# in); this is the one caller of Query.get_compiler(). Checked against Django 5.2.
@functools.cache
def _sql_for_request(alias):
    query = IdentityProvider.objects.for_requests().filter(slug="").query
    sql, _ = query.get_compiler(using=alias).as_sql()
    return sql


class IdentityProvider(models.Model):
    """A SAML identity provider (an Okta app, an Entra ID enterprise app, ...) users sign in with.

    Its metadata is fetched by saml_idps.metadata and kept here as the last good copy: logins use
    this copy and never fetch anything.
    """

    slug = models.SlugField(
        unique=True,
        max_length=100,
        help_text="Appears in this IdP's URLs: /saml/SLUG/login/, /saml/SLUG/acs/, ...",
    )
    name = models.CharField(max_length=200, help_text='Shown to users as "Sign in with NAME".')
    metadata_url = models.URLField(
        "metadata URL",
        max_length=2000,
        blank=True,
        help_text="For Okta: https://ORG.okta.com/app/APP-ID/sso/saml/metadata (the app's Sign On "
        "tab, Metadata URL)",
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

    class MetadataSignature(models.TextChoices):
        UNSIGNED = "unsigned", "not signed"
        PINNED = "pinned", "signed with the pinned certificate"
        VERIFIED = "verified", "signed; verifies with a certificate it carries (nothing pinned)"
        INVALID = "invalid", "signed, but the signature does not verify"
        UNCHECKED = "unchecked", "signed with a key it does not carry (pin it to check it)"

    metadata_signature = models.CharField(
        "metadata signature",
        max_length=16,
        choices=MetadataSignature.choices,
        default=MetadataSignature.UNSIGNED,
        editable=False,
    )
    enabled = models.BooleanField(default=True)

    # Our side as this IdP knows it: blank means /saml/<slug>/metadata/ and /saml/<slug>/acs/.
    # An IdP app set up for another SP before (or by Okta's guide) keeps working unchanged.
    sp_entity_id = models.CharField(
        "SP entity ID (Audience URI)",
        max_length=1024,
        blank=True,
        validators=[validate_entity_id],
        help_text="Only to keep an existing IdP app unchanged: the Audience URI (SP entity ID) "
        "it already sends. Empty: this IdP's metadata URL here.",
    )
    acs_url = models.CharField(
        "ACS URL",
        max_length=2000,
        blank=True,
        validators=[validate_absolute_http_url],
        help_text="Only to keep an existing IdP app unchanged: the single sign-on URL (ACS) it "
        "already posts to, as it puts it in Destination and Recipient. Empty: this IdP's ACS "
        "URL here.",
    )
    allow_idp_initiated = models.BooleanField(
        "allow IdP-initiated login",
        default=True,
        help_text="Accept unsolicited responses, as sent by an app tile on the Okta dashboard.",
    )

    # Security: what a response must be to be accepted.
    class RequiredSignatures(models.TextChoices):
        EITHER = "either", "the response or the assertion"
        RESPONSE = "response", "the response"
        ASSERTION = "assertion", "the assertion"
        BOTH = "both", "both the response and the assertion"

    required_signatures = models.CharField(
        max_length=16,
        choices=RequiredSignatures.choices,
        default=RequiredSignatures.EITHER,
        help_text="Okta signs both by default; Entra ID signs the assertion.",
    )
    allow_sha1 = models.BooleanField(
        "allow SHA-1 signatures",
        default=False,
        help_text="Only for IdPs that cannot sign with SHA-256. MD5 is never accepted.",
    )
    sign_authn_requests = models.BooleanField(
        "sign AuthnRequests",
        default=True,
        help_text="Sign our requests with the SP key published in our metadata.",
    )
    require_encryption = models.BooleanField(
        "require encrypted assertions",
        default=False,
        help_text="Refuse assertions the IdP did not encrypt to our metadata's certificate.",
    )
    clock_skew = models.PositiveIntegerField(
        "clock skew (seconds)",
        default=60,
        validators=[
            MaxValueValidator(
                MAX_CLOCK_SKEW,
                f"At most {MAX_CLOCK_SKEW} seconds: a larger skew keeps expired assertions "
                "valid; fix the clocks instead.",
            )
        ],
        help_text=f"Clock difference tolerated between this site and the IdP (at most "
        f"{MAX_CLOCK_SKEW} s).",
    )

    # Provisioning: the IdP creates, updates and deactivates its users over SCIM 2.0.
    scim_enabled = models.BooleanField(
        "provisioning (SCIM) on",
        default=False,
        help_text="Off: /scim/<slug>/v2/ answers 404 for this IdP, whatever token is sent. "
        "On: the IdP creates, updates and deactivates the accounts of its users (whatever "
        "'create users on first login' says), and its groups grant Django groups through the "
        "group mappings.",
    )

    class ScimUserIdentifier(models.TextChoices):
        USER_NAME = "userName", "userName"
        EXTERNAL_ID = "externalId", "externalId"

    scim_user_identifier = models.CharField(
        "SCIM attribute equal to the NameID",
        max_length=16,
        choices=ScimUserIdentifier.choices,
        default=ScimUserIdentifier.USER_NAME,
        help_text="The attribute of a SCIM user that the IdP's assertions send as NameID: Okta's "
        "and Entra ID's userName unless configured otherwise.",
    )

    # Identity policy: who this IdP may sign in, and what its assertions may change.
    create_users = models.BooleanField(
        "create users on first login",
        default=True,
        help_text="Off: only users already linked to this IdP (or, with email domains, "
        "unprivileged accounts with that email) can sign in.",
    )
    attribute_mapping = models.JSONField(
        default=default_attribute_mapping,
        blank=True,
        help_text='Assertion attribute -> user fields, e.g. {"FirstName": ["first_name"]}. '
        "Only first_name, last_name and email can be set.",
    )
    groups_attribute = models.CharField(
        max_length=512,
        blank=True,
        default="groups",
        help_text="The attribute whose values the group mappings below match.",
    )
    remove_unasserted_groups = models.BooleanField(
        "remove groups that are no longer asserted",
        default=False,
        help_text="At each login, take away mapped groups (and mapped staff/superuser status) "
        "the assertion no longer grants. Protected groups are never removed.",
    )
    show_assertion_values = models.BooleanField(
        "keep values of the last assertion",
        default=True,
        help_text="Off: the admin sees only the attribute names of the last assertion.",
    )
    last_assertion_attributes = models.JSONField(default=dict, blank=True, editable=False)
    last_assertion_at = models.DateTimeField(null=True, blank=True, editable=False)
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

    objects = IdentityProviderManager()

    class Meta:
        ordering = ["name"]
        verbose_name = "identity provider"

    def __str__(self):
        return self.name

    @classmethod
    def settings_fields(cls):
        """The names of every setting an operator makes on an IdP, through the admin, the CLI
        or import and export: its editable fields (what the metadata says is not editable)."""
        return [
            field.name
            for field in cls._meta.get_fields()
            if field.concrete and field.editable and not field.auto_created
        ]

    def clean(self):
        mapping = self.attribute_mapping
        if not isinstance(mapping, dict) or not all(
            isinstance(fields, list) and all(isinstance(f, str) for f in fields)
            for fields in mapping.values()
        ):
            raise ValidationError(
                {"attribute_mapping": 'Write an object of lists: {"FirstName": ["first_name"]}.'}
            )
        from .policy import identity_policy  # the policy reads these models

        assignable = identity_policy().assignable_fields(self)
        refused = {f for fields in mapping.values() for f in fields} - set(assignable)
        if refused:
            raise ValidationError(
                {
                    "attribute_mapping": f"Assertions may not set {', '.join(sorted(refused))}; "
                    f"only {', '.join(assignable)}."
                }
            )

    def security_warnings(self, group_mappings=None):
        """The riskier choices made for this IdP, in words for its change page."""
        return list(self.risky_choices(group_mappings).values())

    def risky_choices(self, group_mappings=None):
        """Each riskier choice made for this IdP, by a key naming it: what a change that
        weakens security adds. ``group_mappings`` default to the IdP's own."""
        if group_mappings is None:
            group_mappings = self.group_mappings.all() if self.pk else []
        risky = {}
        if self.metadata_signature == self.MetadataSignature.INVALID:
            risky["metadata_signature"] = (
                "The metadata carries a signature that does not verify: the document was "
                "altered after it was signed. Check with the IdP's admin that it is genuine, "
                "and pin its metadata signing certificate."
            )
        if self.allow_sha1:
            risky["allow_sha1"] = "SHA-1 signatures are accepted; SHA-1 is broken for signatures."
        if self.clock_skew > RISKY_CLOCK_SKEW:
            risky["clock_skew"] = (
                f"A clock skew of {self.clock_skew} s lets expired assertions in for longer."
            )
        if not self.sign_authn_requests:
            risky["sign_authn_requests"] = "AuthnRequests are not signed."
        if self.allow_idp_initiated:
            risky["allow_idp_initiated"] = (
                "IdP-initiated login is on: responses nobody here asked for are accepted "
                "(each only once)."
            )
        if self.acs_url:
            risky["acs_url"] = (
                f"Responses addressed to {self.acs_url} are accepted here: make sure no other "
                "site still receives them, or they could be used at both."
            )
        for mapping in group_mappings:
            for flag, status in (("grants_staff", "staff"), ("grants_superuser", "superuser")):
                if getattr(mapping, flag):
                    risky[f"{flag}:{mapping.value}"] = (
                        f"The group '{mapping.value}' makes its members {status}."
                    )
        return risky

    @property
    def metadata_expired(self):
        return self.metadata_valid_until is not None and self.metadata_valid_until <= timezone.now()


class EmailDomain(models.Model):
    """An email domain whose people this IdP signs in. A domain belongs to one IdP, which is
    how "Sign in with your work email" finds it."""

    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="email_domains"
    )
    domain = models.CharField(max_length=253, unique=True, help_text="e.g. acme.com")

    def __str__(self):
        return self.domain

    def clean(self):
        self.domain = normalize_email(self.domain).lstrip("@")
        if not DOMAIN.match(self.domain):
            raise ValidationError({"domain": "Enter a domain name, like acme.com."})


class GroupMapping(models.Model):
    """A value of the IdP's groups attribute, and what it grants here."""

    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="group_mappings"
    )
    value = models.CharField(
        max_length=512,
        validators=[ProhibitNullCharactersValidator()],
        help_text="As asserted (compared without regard to case), e.g. Engineering",
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, null=True, blank=True)
    grants_staff = models.BooleanField("grants staff status", default=False)
    grants_superuser = models.BooleanField("grants superuser status", default=False)

    def __str__(self):
        return f"{self.value} -> {self.group or 'status'}"

    def clean(self):
        if not (self.group_id or self.grants_staff or self.grants_superuser):
            raise ValidationError("Choose a group, or staff or superuser status, to grant.")


class ProtectedGroup(models.Model):
    """A group no IdP ever removes from a user, whatever its assertions say."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="protection")

    def __str__(self):
        return str(self.group)


class LoginAttempt(models.Model):
    """The audit log: every login through an IdP, with the reason of each refusal."""

    class Outcome(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        TEST = "test", "test (nobody signed in)"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.SET_NULL, null=True, related_name="login_attempts"
    )
    name_id = models.CharField("NameID", max_length=512, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=64, blank=True, help_text="a reason code")
    detail = models.TextField(blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    assertion_id = models.CharField(max_length=256, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.outcome} {self.reason}"


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
    deactivated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when the IdP deactivated this user over SCIM: no sign-in through this "
        "link until the IdP reactivates it.",
    )
    deactivated_account = models.BooleanField(
        default=False,
        editable=False,
        help_text="The deactivation also deactivated the account (it had no other way in), so "
        "a reactivation by the IdP reactivates it.",
    )

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


class ScimToken(models.Model):
    """A bearer token with which one IdP provisions over SCIM. Only a hash is kept: the token
    itself is shown once, when it is made. Several may be live at once, so a rotation has no gap."""

    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="scim_tokens"
    )
    label = models.CharField(max_length=100, blank=True)
    hint = models.CharField(max_length=8, help_text="the token's first characters, to tell it")
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "SCIM token"

    def __str__(self):
        return f"{self.hint}… {self.label}".strip()


class ScimResource(models.Model):
    """A User or a Group as one IdP provisioned it over SCIM: the whole resource as JSON, so
    every attribute the IdP sends comes back as it was sent, and the columns that lookups and
    uniqueness need."""

    class ResourceType(models.TextChoices):
        USER = "User"
        GROUP = "Group"

    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="scim_resources"
    )
    resource_type = models.CharField(max_length=16, choices=ResourceType.choices)
    scim_id = models.CharField("SCIM id", max_length=32, editable=False)
    name_key = models.CharField(
        max_length=512, help_text="userName or displayName, as SCIM compares them"
    )
    external_id = models.CharField(max_length=512, blank=True)
    data = models.JSONField()
    version = models.PositiveIntegerField(default=1)
    link = models.OneToOneField(
        IdentityLink,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="scim_user",
        help_text="A User's account here, through its (IdP, NameID) link.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["identity_provider", "resource_type", "scim_id"],
                name="unique_scim_id_per_idp",
            ),
            # RFC 7643: userName is unique within the service provider; here, one per IdP.
            models.UniqueConstraint(
                fields=["identity_provider", "name_key"],
                condition=models.Q(resource_type="User"),
                name="unique_scim_user_name_per_idp",
            ),
        ]
        indexes = [models.Index(fields=["identity_provider", "resource_type", "external_id"])]
        verbose_name = "SCIM resource"

    def __str__(self):
        return f"{self.resource_type} {self.name_key}"


class ScimEvent(models.Model):
    """The provisioning audit log: each change an IdP made over SCIM, and each refusal."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.SET_NULL, null=True, related_name="scim_events"
    )
    token = models.ForeignKey(ScimToken, on_delete=models.SET_NULL, null=True, blank=True)
    action = models.CharField(max_length=64, help_text="the request: method and path")
    status = models.PositiveSmallIntegerField()
    detail = models.TextField(blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "SCIM event"

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.status}"


class TestSignIn(models.Model):
    """An admin's dry run of a sign-in through an IdP: the AuthnRequest sent, and the report of
    what the answer would have done. Nobody is signed in, and nothing about users changes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    identity_provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="test_sign_ins"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: started by manage.py saml_idps test, which prints the report.",
    )
    # The report is shown only in the session that asked for it.
    session_key = models.CharField(max_length=40, blank=True)
    request_id = models.CharField("AuthnRequest ID", max_length=256, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    report = models.JSONField(null=True, blank=True)
    shown_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "test sign-in"

    def __str__(self):
        return f"test of {self.identity_provider} by {self.requested_by or 'the command line'}"
