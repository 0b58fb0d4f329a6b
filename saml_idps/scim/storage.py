"""Where one IdP's SCIM resources live: ScimResource rows of that IdP, and nothing else.

Every query is scoped to the IdP whose URL was called, so its token can neither see nor change
what another IdP provisioned. Resources are kept whole as JSON (what the IdP sent comes back as
sent), except a password, which is never kept.
"""

import json
import uuid
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from scim2_models import (
    Group,
    InvalidValueException,
    Meta,
    NotFoundException,
    NotImplementedException,
    Path,
    PreconditionFailedException,
    ScimFilter,
    UniquenessException,
    User,
)
from scim2_server.storage import ScimStorage, SearchPage

from ..models import ScimResource
from .accounts import Provisioning
from .filters import ColumnQuery, NotIndexed
from .service import POLICY, PROVIDER

# The attribute that names a resource of each type, and how SCIM compares it.
NAME_ATTRIBUTE = {
    "User": Path[User]("userName").resolve(),
    "Group": Path[Group]("displayName").resolve(),
}


RESOURCE_TYPES = {resource_type.name: resource_type for resource_type in PROVIDER.resource_types}
MAX_LENGTH = ScimResource._meta.get_field("name_key").max_length  # and external_id's


def version_tag(version):
    return f'W/"{version}"'


def name_key(resource_type, value):
    return POLICY.comparison_key(NAME_ATTRIBUTE[resource_type.name], value or "")


class IdentityProviderStorage(ScimStorage):
    """The SCIM resources of one IdP, and the accounts they are (accounts.py): every write
    brings them in line in the same transaction."""

    def __init__(self, identity_provider):
        self.identity_provider = identity_provider
        self.provisioning = Provisioning(identity_provider)

    def operation(self):
        """A write and what it read before, in one transaction (rows are locked as read)."""
        return transaction.atomic()

    def rows(self, type_name):
        return ScimResource.objects.filter(
            identity_provider=self.identity_provider, resource_type=type_name
        )

    def row(self, resource_type, resource_id, expected_version=None, for_update=False):
        """The row of a resource, locked until the end of the transaction when it is to be
        written (two PATCHes of one group must not each add a member to the same old list)."""
        rows = self.rows(resource_type.name)
        if for_update:
            # Only the resource's row is locked: PostgreSQL cannot lock the nullable side of the
            # outer join to its link, and the account is locked where it is changed.
            rows = rows.select_for_update(of=("self",)).select_related("link__user")
        try:
            row = rows.get(scim_id=resource_id)
        except ScimResource.DoesNotExist:
            raise NotFoundException(detail=f"No {resource_type.name} {resource_id}.") from None
        if expected_version is not None and expected_version != version_tag(row.version):
            raise PreconditionFailedException(detail="The resource has changed meanwhile.")
        return row

    def load(self, resource_type, row):
        return PROVIDER.model_for(resource_type).model_validate(row.data)

    def get(self, resource_type, resource_id, *, response_parameters=None):
        return self.load(resource_type, self.row(resource_type, resource_id))

    def search(self, resource_types, search_request, *, position=None):
        if len(resource_types) != 1:
            raise NotImplementedException(detail="Search one resource type at a time.")
        resource_type = resource_types[0]
        rows = self.rows(resource_type.name).order_by("pk")
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        scim_filter = search_request.filter
        if scim_filter is not None:
            try:
                query = ColumnQuery(resource_type.name, lambda v: name_key(resource_type, v))
                rows = rows.filter(query.visit(scim_filter.ast))
            except NotIndexed:
                # Evaluated on each of this IdP's resources: correct, only slower.
                bound = ScimFilter[PROVIDER.model_for(resource_type)](str(scim_filter))
                found = [
                    r for r in (self.load(resource_type, row) for row in rows) if bound.match(r)
                ]
                return SearchPage(len(found), found[start:stop])
        return SearchPage(rows.count(), [self.load(resource_type, row) for row in rows[start:stop]])

    def create(self, resource_type, resource):
        stored = self.kept(resource_type, resource)
        now = datetime.now(UTC)
        stored.id = uuid.uuid4().hex
        stored.meta = Meta(
            resource_type=resource_type.name,
            created=now,
            last_modified=now,
            version=version_tag(1),
        )
        row = ScimResource(
            identity_provider=self.identity_provider,
            resource_type=resource_type.name,
            scim_id=stored.id,
        )
        self.save(resource_type, row, stored)
        return stored

    def update(self, resource_type, resource, *, expected_version=None):
        row = self.row(resource_type, resource.id, expected_version, for_update=True)
        return self.replace(resource_type, row, resource)

    def replace(self, resource_type, row, resource):
        """Store ``resource`` as the next version of the locked ``row``."""
        stored = self.kept(resource_type, resource)
        stored.meta = self.load(resource_type, row).meta.model_copy(
            update={
                "location": None,
                "last_modified": datetime.now(UTC),
                "version": version_tag(row.version + 1),
            }
        )
        row.version += 1
        self.save(resource_type, row, stored)
        return stored

    def delete(self, resource_type, resource_id, *, expected_version=None):
        if resource_type.name == ScimResource.ResourceType.USER:
            # Its groups first (locked before users, as every group change locks them), so that
            # it loses what they granted while it is still there to be found.
            self.remove_member(resource_id)
        row = self.row(resource_type, resource_id, expected_version, for_update=True)
        if resource_type.name == ScimResource.ResourceType.USER:
            self.provisioning.user_deleted(row)
        row.delete()
        if resource_type.name == ScimResource.ResourceType.GROUP:
            self.provisioning.groups_changed(members(row.data))

    def remove_member(self, user_id):
        """A deleted user leaves every group of this IdP (else the groups would name a user
        that is not there, and refuse their next change)."""
        group_type = RESOURCE_TYPES[ScimResource.ResourceType.GROUP]
        for row in self.rows(ScimResource.ResourceType.GROUP).order_by("pk").select_for_update():
            group = self.load(group_type, row)
            if any(member.value == user_id for member in group.members or []):
                group.members = [m for m in group.members if m.value != user_id] or None
                self.replace(group_type, row, group)

    def kept(self, resource_type, resource):
        """What is stored of a resource: a copy, without a password (Okta sends one on PUT),
        whose group members are all users of this IdP."""
        stored = resource.model_copy(deep=True)
        for value in (
            getattr(stored, NAME_ATTRIBUTE[resource_type.name].field_name),
            stored.external_id,
        ):
            if len(value or "") > MAX_LENGTH:
                raise InvalidValueException(
                    detail=f"A name or externalId is over {MAX_LENGTH} characters."
                )
        if resource_type.name == ScimResource.ResourceType.USER:
            stored.password = None
        if resource_type.name == ScimResource.ResourceType.GROUP:
            if any(not member.value for member in stored.members or []):
                raise InvalidValueException(detail="Every member needs a value (a User's id).")
            members = {member.value for member in stored.members or []}
            users = self.rows(ScimResource.ResourceType.USER).filter(scim_id__in=members)
            known = set(users.values_list("scim_id", flat=True))
            if members - known:
                raise InvalidValueException(
                    detail=f"No User {', '.join(sorted(members - known))} at this IdP."
                )
        return stored

    def save(self, resource_type, row, stored):
        """Write ``stored`` into ``row``, with the columns lookups and uniqueness read, and
        bring the accounts it concerns in line."""
        previous = row.data if row.pk else {}
        if resource_type.name == ScimResource.ResourceType.USER:
            self.provisioning.user_saved(row, stored)
        name = getattr(stored, NAME_ATTRIBUTE[resource_type.name].field_name)
        row.name_key = name_key(resource_type, name)
        row.external_id = stored.external_id or ""
        row.data = json.loads(stored.model_dump_json())
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            raise UniquenessException(
                detail=f"Another {resource_type.name} of this IdP has that name."
            ) from None
        if resource_type.name == ScimResource.ResourceType.GROUP:
            before, after = members(previous), members(row.data)
            renamed = previous.get("displayName") != row.data.get("displayName")
            self.provisioning.groups_changed(before | after if renamed else before ^ after)


def members(group_data):
    """The SCIM ids of a stored group's members."""
    return {member["value"] for member in group_data.get("members") or []}
