"""The authentication backend: the one place that decides who an assertion signs in, and what
the assertion may change about them."""

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from djangosaml2.backends import Saml2Backend

from .models import IdentityProvider
from .normalize import normalize, normalize_email, normalize_name_id
from .policy import identity_policy

logger = logging.getLogger(__name__)


ONE_MINUTE = timedelta(minutes=1)


class SamlIdentityBackend(Saml2Backend):
    """djangosaml2's backend, asking the identity policy (policy.py, SAML_IDPS_POLICY) whom an
    assertion signs in and what it may change about them.

    Django makes a backend for each authenticate() call; this one remembers the IdP it was
    given, and the NameID, for the hooks djangosaml2 calls during that call."""

    identity_provider = None
    name_id = ""

    def authenticate(
        self, request, session_info=None, attribute_mapping=None, identity_provider=None, **kwargs
    ):
        """Only for the ACS of saml_idps, which passes the IdP the response was posted to."""
        if session_info is None or identity_provider is None:
            return None
        self.identity_provider = identity_provider
        # With the IdP, the NameID is who signs in, whatever djangosaml2 would look a user up
        # by (SAML_USE_NAME_ID_AS_USERNAME only makes it hand on the NameID too).
        name_id = session_info.get("name_id")
        self.name_id = normalize_name_id(name_id.text or "") if name_id is not None else ""
        remember_last_assertion(identity_provider, session_info.get("ava", {}))
        user = super().authenticate(
            request, session_info=session_info, attribute_mapping=attribute_mapping, **kwargs
        )
        if user is not None:
            identity_policy().apply_group_mappings(
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
        """The user of (this authentication's IdP, NameID) under the identity policy:
        ``(user, created)``. A refusal (LoginRefused) goes up to the ACS view."""
        return identity_policy().user_for(
            self.identity_provider,
            self.name_id,
            asserted_email(attributes, attribute_mapping),
            idp_entityid,
            create_unknown_user,
        )

    def save_user(self, user, *args, **kwargs):
        """Fit asserted values to the user's fields before saving (fit_profile)."""
        fit_profile(user)
        return super().save_user(user, *args, **kwargs)


def fit_profile(user):
    """Fit the values an IdP gave (by assertion or SCIM) to the user's fields: an over-long
    name is cut, an invalid email is dropped, rather than refusing the user."""
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
            logger.warning("Ignoring an invalid or over-long email for %s", user)
        user.email = ""


def asserted_email(attributes, attribute_mapping):
    """The email the assertion gives, by the IdP's mapping (the last mapped one wins)."""
    emails = [
        values[0]
        for attribute, fields in attribute_mapping.items()
        if "email" in fields and (values := attributes.get(attribute))
    ]
    return normalize_email(emails[-1]) if emails else ""


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
