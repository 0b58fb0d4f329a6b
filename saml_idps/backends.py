"""The authentication backend: who an assertion signs in, and what it may change about them."""

import logging
import re

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from djangosaml2.backends import Saml2Backend

from .config import identity_provider_for
from .models import IdentityLink

logger = logging.getLogger(__name__)

# Assertion attribute -> user fields. Names as Okta (FirstName), LDAP-style IdPs (givenName, sn,
# mail) and Entra ID / ADFS (claim URIs) send them. Later entries win when several are present.
# Only plain profile fields: nothing here can touch username, password, is_staff or is_superuser.
CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
DEFAULT_ATTRIBUTE_MAPPING = {
    "givenName": ("first_name",),
    "firstName": ("first_name",),
    f"{CLAIMS}givenname": ("first_name",),
    "FirstName": ("first_name",),
    "sn": ("last_name",),
    "surname": ("last_name",),
    "lastName": ("last_name",),
    f"{CLAIMS}surname": ("last_name",),
    "LastName": ("last_name",),
    "mail": ("email",),
    "emailAddress": ("email",),
    "email": ("email",),
    f"{CLAIMS}emailaddress": ("email",),
    "Email": ("email",),
}

USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")


class SamlIdentityBackend(Saml2Backend):
    """Signs in the user linked to the assertion's (IdP, NameID), creating one on first login.

    An asserted username or email never selects an existing account, so no IdP can sign in as a
    local user it was not linked to; and new users are never staff or superusers.
    """

    def _extract_user_identifier_params(self, session_info, attributes, attribute_mapping):
        # djangosaml2 would look the user up by a mapped attribute; here the NameID identifies
        # the subject, and only together with the IdP (see get_or_create_user).
        name_id = session_info.get("name_id")
        value = (name_id.text or "").strip() if name_id is not None else ""
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
        """The user linked to (this request's IdP, NameID); a new user when none is and the
        IdP may create users. Returns ``(user, created)``."""
        identity_provider = identity_provider_for(request)
        if idp_entityid != identity_provider.entity_id:
            logger.warning(
                "Assertion issuer %r is not IdP %s (%r)",
                idp_entityid,
                identity_provider.slug,
                identity_provider.entity_id,
            )
            return None, False

        link = linked(identity_provider, user_lookup_value)
        if link is not None:
            return link.user, False
        if not create_unknown_user:
            return None, False
        try:
            with transaction.atomic():
                user = get_user_model()(
                    username=unique_username(attributes, attribute_mapping, user_lookup_value)
                )
                user.set_unusable_password()
                user.save()
                IdentityLink.objects.create(
                    identity_provider=identity_provider,
                    name_id=user_lookup_value,
                    user=user,
                    last_login_at=timezone.now(),
                )
        except IntegrityError:
            # A concurrent first login of the same subject created the link first.
            link = linked(identity_provider, user_lookup_value)
            return (link.user, False) if link else (None, False)
        logger.info("Created user %s for %s at IdP %s", user, user_lookup_value, identity_provider)
        return user, True

    def save_user(self, user, *args, **kwargs):
        """Fit asserted values to the user's fields before saving: an over-long name is cut,
        an invalid email is dropped, rather than failing the login."""
        for field_name in ("first_name", "last_name"):
            max_length = user._meta.get_field(field_name).max_length
            setattr(user, field_name, (getattr(user, field_name) or "").strip()[:max_length])
        user.email = (user.email or "").strip()
        try:
            validate_email(user.email)
        except ValidationError:
            if user.email:
                logger.warning("Ignoring invalid asserted email for %s", user)
            user.email = ""
        return super().save_user(user, *args, **kwargs)


def linked(identity_provider, name_id):
    link = (
        IdentityLink.objects.select_related("user")
        .filter(identity_provider=identity_provider, name_id=name_id)
        .first()
    )
    if link is not None:
        IdentityLink.objects.filter(pk=link.pk).update(last_login_at=timezone.now())
    return link


def unique_username(attributes, attribute_mapping, name_id):
    """A username no one has yet, derived from the asserted email or the NameID."""
    user_model = get_user_model()
    max_length = user_model._meta.get_field(user_model.USERNAME_FIELD).max_length
    emails = [
        values[0]
        for attribute, fields in attribute_mapping.items()
        if "email" in fields and (values := attributes.get(attribute))
    ]
    base = USERNAME_UNSAFE.sub("", (emails[-1] if emails else name_id).strip().lower())
    base = base[: max_length - 6] or "user"
    candidate, suffix = base, 1
    while user_model._default_manager.filter(
        **{f"{user_model.USERNAME_FIELD}__iexact": candidate}
    ).exists():
        suffix += 1
        candidate = f"{base}{suffix}"
    return candidate
