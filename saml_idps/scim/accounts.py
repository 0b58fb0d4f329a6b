"""What an IdP's SCIM requests do to accounts here.

A SCIM User is the account its (IdP, NameID) link reaches, the NameID being the user's
userName or externalId (the IdP's scim_user_identifier), compared as logins compare it: so the
first SAML sign-in of a provisioned user lands in the account provisioning made. A Group grants
Django groups through the IdP's group mappings, as an asserted groups attribute does. Whom an
IdP may reach, create or deactivate is the identity policy's decision (policy.py).
"""

from django.contrib.auth import get_user_model
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
        link = self.own_link(row)
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
        row.link = link
        # Only an explicit true reactivates: a PUT that leaves active out changes nothing.
        if user.active is False:
            self.deactivate(link)
        elif user.active is True and self.reactivate(link):
            self.groups_changed({row.scim_id})

    def own_link(self, row):
        """The link of a stored SCIM user, if it is still one of this IdP's (an admin may have
        moved or removed it)."""
        link = row.link
        if link is None or link.identity_provider_id != self.identity_provider.pk:
            return None
        return link

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
        """Cut ``link`` from sign-in and take back what this IdP's group mappings granted the
        account; deactivate the account too when the policy says the link was its only way in.
        Its sessions through this IdP end at their next request (middleware.py)."""
        if link.deactivated_at is not None:
            return
        # Locked, so that two IdPs deactivating their links at once see each other's.
        account = get_user_model()._default_manager.select_for_update().get(pk=link.user_id)
        link.user = account
        link.deactivated_at = timezone.now()
        link.save(update_fields=["deactivated_at"])
        self.apply_groups(account, [])
        if account.is_active and self.policy.may_deactivate_account(self.identity_provider, link):
            account.is_active = False
            account.save(update_fields=["is_active"])
            link.deactivated_account = True
            link.save(update_fields=["deactivated_account"])
            self.note(account, "deactivated")
        else:
            self.note(account, "cut from this IdP (the account stays active)")

    def reactivate(self, link):
        """Undo deactivate (the groups aside): the account is reactivated only if the
        deactivation deactivated it. Whether there was anything to undo."""
        if link.deactivated_at is None:
            return False
        link.deactivated_at = None
        account = link.user
        if link.deactivated_account and not account.is_active:
            account.is_active = True
            account.save(update_fields=["is_active"])
        link.deactivated_account = False
        link.save(update_fields=["deactivated_at", "deactivated_account"])
        self.note(account, "reactivated")
        return True

    def user_deleted(self, row):
        """A deleted SCIM user: its account is cut as by ``active: false``. The link stays,
        deactivated, so that a sign-in through the IdP is refused rather than making a new
        account, and a user provisioned again gets its account back; the account itself is
        never deleted here (an admin may)."""
        link = self.own_link(row)
        if link is not None:
            self.deactivate(link)

    def groups_changed(self, user_ids):
        """Grant and take back the mapped Django groups of these SCIM users (by id) to match the
        SCIM groups of this IdP they are members of; deactivated ones get none."""
        if not user_ids:
            return
        identity_provider = self.identity_provider
        # The users first, in a fixed order: a concurrent change of another group of theirs
        # waits, and then reads this one's groups as committed.
        users = list(
            ScimResource.objects.filter(
                identity_provider=identity_provider,
                resource_type=ScimResource.ResourceType.USER,
                scim_id__in=user_ids,
                link__identity_provider=identity_provider,
                link__deactivated_at__isnull=True,
            )
            .order_by("pk")
            .select_for_update(of=("self",))
            .select_related("link__user")
        )
        if not users:
            return
        groups_of = {row.scim_id: [] for row in users}
        group_rows = ScimResource.objects.filter(
            identity_provider=identity_provider, resource_type=ScimResource.ResourceType.GROUP
        ).values_list("data", flat=True)
        for group in group_rows:
            for member in group.get("members") or []:
                if member.get("value") in groups_of:
                    groups_of[member["value"]].append(normalize(group.get("displayName", "")))
        for row in users:
            self.apply_groups(row.link.user, groups_of[row.scim_id])

    def apply_groups(self, account, group_names):
        """The IdP's group mappings applied to ``account`` as a member of exactly the SCIM
        groups ``group_names``: protected groups are never taken back."""
        identity_provider = self.identity_provider
        before = set(account.groups.values_list("name", flat=True))
        status = (account.is_staff, account.is_superuser)
        self.policy.apply_group_mappings(
            identity_provider,
            account,
            {identity_provider.groups_attribute: group_names},
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
