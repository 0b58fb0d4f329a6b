"""What an IdP's SCIM requests do to accounts here.

A SCIM User is the account its (IdP, NameID) link reaches, the NameID being the user's
userName or externalId (the IdP's scim_user_identifier), compared as logins compare it: so the
first SAML sign-in of a provisioned user lands in the account provisioning made. A Group grants
Django groups through the IdP's group mappings, as an asserted groups attribute does. Whom an
IdP may reach, create or deactivate is the identity policy's decision (policy.py).
"""

from django.db import IntegrityError, transaction
from django.utils import timezone
from scim2_models import InvalidValueException, UniquenessException

from ..backends import fit_profile
from ..models import IdentityProvider, ScimResource
from ..normalize import normalize, normalize_email, normalize_name_id
from ..policy import identity_policy
from ..refusals import LoginRefused


def primary_email(user):
    """The primary email of a SCIM user, else its first one."""
    emails = user.emails or []
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    return chosen.value if chosen is not None else None


# The user fields SCIM sets, each from what attribute; only those the policy lets an IdP assign.
PROFILE = {
    "first_name": lambda user: user.name and user.name.given_name,
    "last_name": lambda user: user.name and user.name.family_name,
    "email": primary_email,
}


class Provisioning:
    """The account changes of one SCIM request to one IdP, noted for its audit record."""

    def __init__(self, identity_provider):
        self.identity_provider = identity_provider
        self.policy = identity_policy()
        self.changes = []

    def name_id(self, user):
        """The NameID the IdP's assertions send for this SCIM user."""
        identifier = self.identity_provider.scim_user_identifier
        value = (
            user.external_id
            if identifier == IdentityProvider.ScimUserIdentifier.EXTERNAL_ID
            else user.user_name
        )
        name_id = normalize_name_id(value or "")
        if not name_id:
            raise InvalidValueException(
                detail=f"This IdP's users are known by their {identifier}; this one has none."
            )
        return name_id

    def user_saved(self, row, user):
        """Bring the account of SCIM user ``user`` (stored in ``row``, not yet saved) in line
        with it: linked, created or renamed, its profile, and whether it may sign in."""
        name_id = self.name_id(user)
        link = row.link
        if link is None:
            email = normalize_email(primary_email(user) or "")
            try:
                link = self.policy.provisioned_link(self.identity_provider, name_id, email)
            except LoginRefused as refusal:
                error = (
                    InvalidValueException
                    if refusal.code == "email_domain_not_allowed"
                    else UniquenessException
                )
                raise error(detail=str(refusal)) from None
            if ScimResource.objects.filter(link=link).exclude(pk=row.pk).exists():
                raise UniquenessException(
                    detail=f"Another User of this IdP is the account known as {name_id}."
                )
            self.note(link.user, f"linked as {name_id}")
        elif link.name_id != name_id:
            self.rename(link, name_id)
        self.update_profile(link.user, user)
        if user.active is False:
            self.deactivate(link)
        else:
            self.reactivate(link)
        row.link = link

    def rename(self, link, name_id):
        previous = link.name_id
        link.name_id = name_id
        try:
            with transaction.atomic():
                link.save(update_fields=["name_id"])
        except IntegrityError:
            raise UniquenessException(
                detail=f"Another account is linked to {name_id} at this IdP."
            ) from None
        self.note(link.user, f"NameID {previous} -> {name_id}")

    def update_profile(self, account, user):
        assignable = self.policy.assignable_fields(self.identity_provider)
        before = {field: getattr(account, field) for field in PROFILE}
        for field, value_of in PROFILE.items():
            value = value_of(user)
            if field in assignable and value:
                setattr(account, field, value)
        fit_profile(account)
        changed = [field for field in PROFILE if getattr(account, field) != before[field]]
        if changed:
            account.save(update_fields=changed)
            self.note(account, f"{', '.join(changed)} changed")

    def deactivate(self, link):
        """Cut ``link`` from sign-in; deactivate the account too when the policy says the link
        was its only way in. Its sessions end at their next request (middleware.py)."""
        if link.deactivated_at is not None:
            return
        link.deactivated_at = timezone.now()
        account = link.user
        if account.is_active and self.policy.may_deactivate_account(self.identity_provider, link):
            account.is_active = False
            account.save(update_fields=["is_active"])
            link.deactivated_account = True
            self.note(account, "deactivated")
        else:
            self.note(account, "cut from this IdP (the account stays active)")
        link.save(update_fields=["deactivated_at", "deactivated_account"])

    def reactivate(self, link):
        """Undo deactivate: the account is reactivated only if the deactivation deactivated it."""
        if link.deactivated_at is None:
            return
        link.deactivated_at = None
        account = link.user
        if link.deactivated_account and not account.is_active:
            account.is_active = True
            account.save(update_fields=["is_active"])
        link.deactivated_account = False
        link.save(update_fields=["deactivated_at", "deactivated_account"])
        self.note(account, "reactivated")

    def user_deleted(self, row):
        """A deleted SCIM user: its account is deactivated as by ``active: false`` and its link
        removed. The account itself is never deleted here (an admin may)."""
        if row.link is not None:
            self.deactivate(row.link)
            self.note(row.link.user, "link removed")
            row.link.delete()

    def groups_changed(self, user_ids):
        """Grant and take back the mapped Django groups of these SCIM users (by id) to match the
        SCIM groups of this IdP they are members of. Protected groups are never taken back."""
        if not user_ids:
            return
        identity_provider = self.identity_provider
        groups_of = {user_id: [] for user_id in user_ids}
        group_rows = ScimResource.objects.filter(
            identity_provider=identity_provider, resource_type=ScimResource.ResourceType.GROUP
        ).values_list("data", flat=True)
        for group in group_rows:
            for member in group.get("members") or []:
                if member.get("value") in groups_of:
                    groups_of[member["value"]].append(normalize(group.get("displayName", "")))
        users = ScimResource.objects.filter(
            identity_provider=identity_provider,
            resource_type=ScimResource.ResourceType.USER,
            scim_id__in=user_ids,
            link__isnull=False,
        ).select_related("link__user")
        for row in users:
            account = row.link.user
            before = set(account.groups.values_list("name", flat=True))
            status = (account.is_staff, account.is_superuser)
            self.policy.apply_group_mappings(
                identity_provider,
                account,
                {identity_provider.groups_attribute: groups_of[row.scim_id]},
                take_back=True,
            )
            after = set(account.groups.values_list("name", flat=True))
            changes = [f"+{name}" for name in sorted(after - before)]
            changes += [f"-{name}" for name in sorted(before - after)]
            if (account.is_staff, account.is_superuser) != status:
                changes.append(f"staff={account.is_staff}, superuser={account.is_superuser}")
            if changes:
                self.note(account, f"groups {' '.join(changes)}")

    def note(self, account, change):
        self.changes.append(f"{account.get_username()}: {change}")
