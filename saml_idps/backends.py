"""The authentication backend: the one place that decides who an assertion signs in, and what
the assertion may change about them."""

import logging
import re
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from djangosaml2.backends import Saml2Backend

from .config import identity_provider_for
from .exceptions import LoginRefused, untrusted
from .models import IdentityLink, IdentityProvider, ProtectedGroup
from .normalize import normalize, normalize_email, normalize_name_id

logger = logging.getLogger(__name__)

USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")
# Where a refusal's reason waits for the ACS view: Django's authenticate() swallows the
# PermissionDenied a backend raises, and with it the reason.
REQUEST_REFUSAL = "saml_idps_refusal"

ONE_MINUTE = timedelta(minutes=1)


class SamlIdentityBackend(Saml2Backend):
    """Signs in the user linked to the assertion's (IdP, NameID), following the IdP's policy.

    - A user is found by the link (IdP, NameID), never by an asserted username or email.
    - Without a link, an IdP with email domains may link an existing account with the asserted
      email only if the email is in its domains and the account is unprivileged: not staff,
      not superuser, no usable password, not linked to any IdP. Otherwise an admin links it.
    - With create_users on, a first login creates a user with a unique username.
    - Staff and superuser status come only from the IdP's explicit group mappings.
    """

    def authenticate(self, request, session_info=None, attribute_mapping=None, **kwargs):
        if session_info is None or request is None:
            return None
        identity_provider = identity_provider_for(request)
        remember_last_assertion(identity_provider, session_info.get("ava", {}))
        user = super().authenticate(
            request, session_info=session_info, attribute_mapping=attribute_mapping, **kwargs
        )
        if user is not None:
            apply_group_mappings(
                identity_provider, user, self.clean_attributes(session_info["ava"], "")
            )
        return user

    def clean_attributes(self, attributes, idp_entityid, **kwargs):
        """Every value normalised; empty values dropped."""
        cleaned = {}
        for name, values in attributes.items():
            kept = [normalize(v) for v in values if normalize(v)]
            if kept:
                cleaned[name] = kept
        return cleaned

    def _extract_user_identifier_params(self, session_info, attributes, attribute_mapping):
        # djangosaml2 would look the user up by a mapped attribute; here the NameID identifies
        # the subject, and only together with the IdP (see get_or_create_user).
        name_id = session_info.get("name_id")
        value = normalize_name_id(name_id.text or "") if name_id is not None else ""
        return "name_id", value or None

    def get_or_create_user(
        self,
        user_lookup_key,
        user_lookup_value,
        create_unknown_user,
        idp_entityid,
        attributes,
        attribute_mapping,
        request,
    ):
        """The user of (this request's IdP, NameID) under the IdP's policy: ``(user, created)``,
        or ``(None, False)`` with the reason left on the request for the ACS page."""
        identity_provider = identity_provider_for(request)
        try:
            return resolve_user(
                identity_provider,
                user_lookup_value,
                asserted_email(attributes, attribute_mapping),
                idp_entityid,
                create_unknown_user and identity_provider.create_users,
            )
        except LoginRefused as refusal:
            setattr(request, REQUEST_REFUSAL, refusal)
            logger.warning("IdP %s: %s", identity_provider.slug, refusal.for_the_log())
            return None, False

    def save_user(self, user, *args, **kwargs):
        """Fit asserted values to the user's fields before saving: an over-long name is cut,
        an invalid email is dropped, rather than failing the login."""
        for field_name in ("first_name", "last_name"):
            max_length = user._meta.get_field(field_name).max_length
            setattr(user, field_name, normalize(getattr(user, field_name) or "")[:max_length])
        user.email = normalize_email(user.email or "")
        try:
            validate_email(user.email)
            if len(user.email) > user._meta.get_field("email").max_length:
                raise ValidationError("longer than the email column")
        except ValidationError:
            if user.email:
                logger.warning("Ignoring an invalid or over-long asserted email for %s", user)
            user.email = ""
        return super().save_user(user, *args, **kwargs)


def resolve_user(identity_provider, name_id, email, issuer, may_create):
    """The linking policy (see SamlIdentityBackend). Raises LoginRefused."""
    name = identity_provider.name
    if issuer != identity_provider.entity_id:
        raise LoginRefused("issuer_mismatch", f"The assertion was not issued by IdP '{name}'.")
    link = linked(identity_provider, name_id)
    if link is not None:
        if not link.user.is_active:
            raise LoginRefused(
                "inactive_user",
                "Your account here has been deactivated, so you cannot sign in. Ask an admin "
                "to reactivate it.",
            )
        return link.user, False

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
            if len(existing) > 1 or not may_link_automatically(existing[0]):
                raise LoginRefused(
                    "link_requires_admin",
                    f"An account with the email {email} already exists here. It is not linked "
                    f"to IdP '{name}' automatically; an admin can link it in the admin "
                    "(Identity links).",
                )
            return link_user(identity_provider, name_id, existing[0]), False

    if not may_create:
        raise LoginRefused(
            "provisioning_disabled",
            f"No account here is linked to your identity at IdP '{name}', and that IdP does "
            "not create accounts. Ask an admin to create or link yours.",
        )
    return create_user(identity_provider, name_id, email), True


def may_link_automatically(user):
    """Only accounts nobody could already be using with more rights or another way in."""
    return (
        user.is_active
        and not user.is_staff
        and not user.is_superuser
        and not user.has_usable_password()
        and not user.saml_identities.exists()
    )


def linked(identity_provider, name_id):
    try:
        link = IdentityLink.objects.select_related("user").get(
            identity_provider=identity_provider, name_id=name_id
        )
    except IdentityLink.DoesNotExist:
        return None
    IdentityLink.objects.filter(pk=link.pk).update(last_login_at=timezone.now())
    return link


def link_user(identity_provider, name_id, user):
    IdentityLink.objects.create(
        identity_provider=identity_provider,
        name_id=name_id,
        user=user,
        last_login_at=timezone.now(),
    )
    logger.info(
        "Linked %s at IdP %s to the existing user %s", untrusted(name_id), identity_provider, user
    )
    return user


# Concurrent first logins can pick the same free username; each retry sees the winner's row.
USERNAME_ATTEMPTS = 5


def create_user(identity_provider, name_id, email):
    for _ in range(USERNAME_ATTEMPTS):
        try:
            with transaction.atomic():
                user = get_user_model()(username=unique_username(email or name_id))
                user.set_unusable_password()
                user.save()
                link_user(identity_provider, name_id, user)
        except IntegrityError:
            # A concurrent first login of the same subject created the link first, or someone
            # else's took the username.
            link = linked(identity_provider, name_id)
            if link is not None:
                return link.user
            continue
        logger.info("Created user %s for %s at IdP %s", user, untrusted(name_id), identity_provider)
        return user
    raise LoginRefused(
        "account_conflict",
        "Your account could not be created because other sign-ins were creating accounts of "
        "the same name at the same moment. Please sign in again.",
        status=409,
    )


def asserted_email(attributes, attribute_mapping):
    """The email the assertion gives, by the IdP's mapping (the last mapped one wins)."""
    emails = [
        values[0]
        for attribute, fields in attribute_mapping.items()
        if "email" in fields and (values := attributes.get(attribute))
    ]
    return normalize_email(emails[-1]) if emails else ""


def unique_username(base):
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


def apply_group_mappings(identity_provider, user, attributes):
    """Grant what the IdP's group mappings grant for the asserted groups; with
    remove_unasserted_groups, take back mapped groups (never protected ones) and mapped
    statuses the assertion no longer grants."""
    asserted = {v.casefold() for v in attributes.get(identity_provider.groups_attribute, [])}
    if not asserted and not identity_provider.remove_unasserted_groups:
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
    if identity_provider.remove_unasserted_groups:
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


def remember_last_assertion(identity_provider, attributes):
    """Keep what the IdP last sent, for the admin to map attributes from what really arrives.

    The row is written when the attribute names change, else at most once a minute (the
    resolution the admin sees), so that concurrent logins through one IdP do not queue for its
    row's lock: the values shown are those of a login in the minute shown."""
    kept = (
        {name: list(values) for name, values in attributes.items()}
        if identity_provider.show_assertion_values
        else dict.fromkeys(attributes, ["(hidden)"])
    )
    now = timezone.now()
    last = identity_provider.last_assertion_at
    same_names = kept.keys() == identity_provider.last_assertion_attributes.keys()
    if same_names and last and now - last < ONE_MINUTE:
        return
    IdentityProvider.objects.filter(pk=identity_provider.pk).update(
        last_assertion_attributes=kept, last_assertion_at=now
    )
