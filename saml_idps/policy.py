"""IdentityPolicy: the one place that decides who may sign in through an IdP and what they
become. A host project subclasses it and names the subclass in SAML_IDPS_POLICY (a dotted
path), as Django's authentication backends offer user_can_authenticate and configure_user, and
django-allauth's adapter is_open_for_signup and populate_user.

The rules of the default policy:

- An IdP is available when enabled and its metadata has not expired.
- A user is found by the link (IdP, NameID), never by an asserted username or email; a
  transient or empty NameID names nobody.
- Without a link, an IdP with email domains may link an existing account with the asserted
  email only if the email is in its domains and the account is unprivileged: not staff, not
  superuser, no usable password, not linked to any IdP. Otherwise an admin links it.
- With create_users on, a first login creates a user with a unique username.
- A link its IdP deactivated over SCIM signs no one in. The IdP deactivates the account itself
  only when the link was its only way in and it is unprivileged.
- Assertions set only first name, last name and email; staff and superuser status come only
  from the IdP's explicit group mappings.
"""

import functools
import logging
import re

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from saml2.saml import NAMEID_FORMAT_TRANSIENT

from .conf import app_setting
from .models import EmailDomain, IdentityLink, ProtectedGroup
from .normalize import normalize, normalize_email
from .refusals import LoginRefused, untrusted

logger = logging.getLogger(__name__)

USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")
# Concurrent first logins can pick the same free username; each retry sees the winner's row.
USERNAME_ATTEMPTS = 5
# The user fields an assertion may set. Never username, password, is_staff or is_superuser:
# those are not the IdP's to decide (staff and superuser come only from group mappings).
ASSIGNABLE_FIELDS = ("first_name", "last_name", "email")


def identity_policy():
    """The policy named by SAML_IDPS_POLICY, one instance per process and setting."""
    return _policy(app_setting("POLICY"))


@functools.lru_cache(maxsize=4)
def _policy(dotted_path):
    return import_string(dotted_path)()


class IdentityPolicy:
    """The default policy (the module's docstring). Every method is a hook."""

    def unavailable(self, identity_provider):
        """Why no one can sign in through this IdP now (a LoginRefused), or None."""
        name = identity_provider.name
        if not identity_provider.enabled:
            return LoginRefused(
                "idp_disabled",
                f"Sign-in through IdP '{name}' is turned off. Choose another way to sign in, "
                "or ask an admin.",
                status=404,
            )
        if identity_provider.metadata_expired:
            return LoginRefused(
                "metadata_expired",
                f"The metadata of IdP '{name}' expired on "
                f"{identity_provider.metadata_valid_until:%Y-%m-%d %H:%M} UTC and no fresh copy "
                "could be fetched, so sign-in through it is refused. An admin should refresh its "
                "metadata (Admin › Identity providers › Refresh metadata now).",
                status=503,
            )
        return None

    def check_name_id(self, identity_provider, name_id):
        """Refuse a NameID that names no one for good (raises LoginRefused)."""
        if name_id is None or not (name_id.text or "").strip():
            raise LoginRefused(
                "no_name_id",
                "The assertion has no NameID, so it names no user.",
            )
        if name_id.format == NAMEID_FORMAT_TRANSIENT:
            raise LoginRefused(
                "transient_name_id",
                "The IdP sent a transient NameID, which changes at every sign-in and cannot "
                "identify a user. An admin should configure the IdP to send a persistent "
                "NameID (in Okta: Name ID format EmailAddress, Persistent or Unspecified).",
            )

    def user_for(self, identity_provider, name_id, email, issuer, may_create):
        """``(user, created)`` for the assertion's (IdP, NameID): the linked user; else, with email
        domains, an existing account this policy links automatically; else a new user when the
        IdP creates users. Raises LoginRefused with the reason."""
        name = identity_provider.name
        if issuer != identity_provider.entity_id:
            raise LoginRefused("issuer_mismatch", f"The assertion was not issued by IdP '{name}'.")
        link = self.linked(identity_provider, name_id)
        if link is not None:
            if link.deactivated_at is not None:
                raise LoginRefused(
                    "deactivated",
                    f"IdP '{name}' has deactivated your access to this site, so you cannot sign in "
                    "through it. Ask your IdP's admin to reactivate it.",
                )
            if not link.user.is_active:
                raise LoginRefused(
                    "inactive_user",
                    "Your account here has been deactivated, so you cannot sign in. Ask an admin "
                    "to reactivate it.",
                )
            return link.user, False
        return self.unlinked_user(
            identity_provider,
            name_id,
            email,
            may_create and self.may_create_users(identity_provider),
        )

    def unlinked_user(self, identity_provider, name_id, email, may_create):
        """``(user, created)`` for a (IdP, NameID) no account is linked to yet: with email
        domains, an existing account this policy links automatically; else a new user when
        ``may_create``. Raises LoginRefused with the reason."""
        name = identity_provider.name
        domains = set(identity_provider.email_domains.values_list("domain", flat=True))
        if domains:
            domain = email.rpartition("@")[2]
            if domain not in domains:
                raise LoginRefused(
                    "email_domain_not_allowed",
                    f"IdP '{name}' may only sign in people with an email address at "
                    f"{', '.join(sorted(domains))}"
                    + (f"; it asserted one at {domain}." if email else "; it asserted none."),
                )
            existing = list(get_user_model()._default_manager.filter(email__iexact=email)[:2])
            if existing:
                if len(existing) > 1 or not self.may_link_automatically(
                    identity_provider, existing[0]
                ):
                    raise LoginRefused(
                        "link_requires_admin",
                        f"An account with the email {email} already exists here. It is not linked "
                        f"to IdP '{name}' automatically; an admin can link it in the admin "
                        "(Identity links).",
                    )
                return self.link(identity_provider, name_id, existing[0]), False

        if not may_create:
            raise LoginRefused(
                "provisioning_disabled",
                f"No account here is linked to your identity at IdP '{name}', and that IdP does "
                "not create accounts. Ask an admin to create or link yours.",
            )
        return self.create_user(identity_provider, name_id, email), True

    def provisioned_link(self, identity_provider, name_id, email):
        """The IdentityLink of a user the IdP provisions over SCIM: the existing one of (IdP,
        NameID), else one to an account found or created as at a first login. Turning SCIM on
        is the admin's word that this IdP creates its users, whatever create_users says; email
        domains still decide which accounts it may reach. Raises LoginRefused."""
        found = IdentityLink.objects.select_related("user").filter(
            identity_provider=identity_provider, name_id=name_id
        )
        if not found.exists():
            self.unlinked_user(identity_provider, name_id, email, may_create=True)
        return found.get()

    def may_deactivate_account(self, identity_provider, link):
        """Whether an IdP deactivating ``link`` (over SCIM) also deactivates the account: only
        when that IdP was its only way in and it holds no privilege. Otherwise the account is
        only cut from that IdP."""
        user = link.user
        return (
            not user.is_staff
            and not user.is_superuser
            and not user.has_usable_password()
            and not user.saml_identities.exclude(pk=link.pk)
            .filter(deactivated_at__isnull=True)
            .exists()
        )

    def may_link_automatically(self, identity_provider, user):
        """Whether an existing account with the asserted email (in the IdP's email domains) is
        linked without an admin: only accounts nobody could already be using with more rights
        or another way in."""
        return (
            user.is_active
            and not user.is_staff
            and not user.is_superuser
            and not user.has_usable_password()
            and not user.saml_identities.exists()
        )

    def may_create_users(self, identity_provider):
        """Whether a first login through this IdP creates a user (its create_users setting)."""
        return identity_provider.create_users

    def new_user(self, identity_provider, name_id, email):
        """The user a first login creates, not yet saved: a unique username, no usable
        password. Override to set more (is_active=False for accounts an admin approves)."""
        user = get_user_model()(username=self.unique_username(email or name_id))
        user.set_unusable_password()
        return user

    def create_user(self, identity_provider, name_id, email):
        """A new user linked to (IdP, NameID), saved: see new_user."""
        for _ in range(USERNAME_ATTEMPTS):
            try:
                with transaction.atomic():
                    user = self.new_user(identity_provider, name_id, email)
                    user.save()
                    self.link(identity_provider, name_id, user)
            except IntegrityError:
                # A concurrent first login of the same subject created the link first, or someone
                # else's took the username.
                link = self.linked(identity_provider, name_id)
                if link is not None:
                    return link.user
                continue
            logger.info(
                "Created user %s for %s at IdP %s", user, untrusted(name_id), identity_provider
            )
            return user
        raise LoginRefused(
            "account_conflict",
            "Your account could not be created because other sign-ins were creating accounts of "
            "the same name at the same moment. Please sign in again.",
            status=409,
        )

    def linked(self, identity_provider, name_id):
        """The IdentityLink of (IdP, NameID), its last login noted, or None."""
        try:
            link = IdentityLink.objects.select_related("user").get(
                identity_provider=identity_provider, name_id=name_id
            )
        except IdentityLink.DoesNotExist:
            return None
        IdentityLink.objects.filter(pk=link.pk).update(last_login_at=timezone.now())
        return link

    def link(self, identity_provider, name_id, user):
        """Link ``user`` to (IdP, NameID); returns the user."""
        IdentityLink.objects.create(
            identity_provider=identity_provider,
            name_id=name_id,
            user=user,
            last_login_at=timezone.now(),
        )
        logger.info(
            "Linked %s at IdP %s to the existing user %s",
            untrusted(name_id),
            identity_provider,
            user,
        )
        return user

    def unique_username(self, base):
        """A username no one has yet, made of ``base`` (an email or a NameID)."""
        user_model = get_user_model()
        max_length = user_model._meta.get_field(user_model.USERNAME_FIELD).max_length
        base = USERNAME_UNSAFE.sub("", normalize(base).lower())[: max_length - 6] or "user"
        candidate, suffix = base, 1
        while user_model._default_manager.filter(
            **{f"{user_model.USERNAME_FIELD}__iexact": candidate}
        ).exists():
            suffix += 1
            candidate = f"{base}{suffix}"
        return candidate

    def assignable_fields(self, identity_provider):
        """The user fields the IdP's attribute mapping may set."""
        return ASSIGNABLE_FIELDS

    def apply_group_mappings(self, identity_provider, user, attributes, take_back=None):
        """Grant what the IdP's group mappings grant for the asserted groups; with
        ``take_back`` (by default the IdP's remove_unasserted_groups), take back mapped groups
        (never protected ones) and mapped statuses the assertion no longer grants. Nothing else
        makes anyone staff or superuser. SCIM's group push calls it with ``take_back=True``."""
        if take_back is None:
            take_back = identity_provider.remove_unasserted_groups
        asserted = {v.casefold() for v in attributes.get(identity_provider.groups_attribute, [])}
        if not asserted and not take_back:
            return  # nothing to grant, nothing to take back: the mappings need not be read
        mappings = list(identity_provider.group_mappings.select_related("group"))
        if not mappings:
            return
        granted = [m for m in mappings if normalize(m.value).casefold() in asserted]
        granted_groups = {m.group for m in granted if m.group}
        user.groups.add(*granted_groups)
        flags = {"is_staff": "grants_staff", "is_superuser": "grants_superuser"}
        changed = []
        for flag, grant in flags.items():
            if any(getattr(m, grant) for m in granted) and not getattr(user, flag):
                setattr(user, flag, True)
                changed.append(flag)
        if take_back:
            protected = set(ProtectedGroup.objects.values_list("group_id", flat=True))
            user.groups.remove(
                *(
                    m.group
                    for m in mappings
                    if m.group and m.group not in granted_groups and m.group.pk not in protected
                )
            )
            for flag, grant in flags.items():
                managed = any(getattr(m, grant) for m in mappings)
                if managed and not any(getattr(m, grant) for m in granted) and getattr(user, flag):
                    setattr(user, flag, False)
                    changed.append(flag)
        if changed:
            user.save(update_fields=changed)
            logger.info("IdP %s group mappings changed %s of %s", identity_provider, changed, user)

    def identity_provider_for_email(self, email):
        """The enabled IdP that owns the domain of ``email``, or None: "Sign in with your work
        email" on the home page."""
        domain = normalize_email(email).rpartition("@")[2]
        found = (
            EmailDomain.objects.select_related("identity_provider")
            .filter(domain=domain, identity_provider__enabled=True)
            .first()
        )
        return found.identity_provider if found else None
