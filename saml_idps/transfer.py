"""IdPs as JSON, for config-as-code: export every per-IdP setting, import it elsewhere.

An import validates every entry with the admin's own form (the metadata included), applies
all of them in one transaction or none, and leaves an IdP that already matches untouched.
"""

import json

from django.contrib.auth.models import Group
from django.db import transaction
from django.forms import modelform_factory

from .forms import IdentityProviderForm, errors_as_text
from .idp_metadata import normalize_pem
from .models import EmailDomain, GroupMapping, IdentityProvider

SETTINGS_FIELDS = IdentityProvider.settings_fields()
SettingsForm = modelform_factory(
    IdentityProvider, form=IdentityProviderForm, fields=SETTINGS_FIELDS
)


class TransferError(Exception):
    """An import that changed nothing; the message lists every entry's problems."""


def export(identity_providers):
    return [exported(idp) for idp in identity_providers.prefetch_related("email_domains")]


def exported(identity_provider):
    entry = {field: getattr(identity_provider, field) for field in SETTINGS_FIELDS}
    entry["email_domains"] = sorted(d.domain for d in identity_provider.email_domains.all())
    entry["group_mappings"] = [
        {
            "value": m.value,
            "group": m.group.name if m.group else None,
            "grants_staff": m.grants_staff,
            "grants_superuser": m.grants_superuser,
        }
        for m in identity_provider.group_mappings.select_related("group").order_by("value", "pk")
    ]
    return entry


def import_(entries, allow_weaker_security=False):
    """Create or update the IdPs in ``entries`` (a list of exported dicts), all or nothing.
    Returns ``[(slug, "created" | "updated" | "unchanged", weakenings)]``: the warnings, in the
    admin's words, of every riskier choice an entry adds. Without ``allow_weaker_security``
    an entry adding any is refused."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise TransferError("The file must hold a JSON list of identity providers.")
    results, problems = [], []
    with transaction.atomic():
        for number, entry in enumerate(entries, start=1):
            slug = entry.get("slug", f"entry {number}")
            try:
                outcome, weakenings = import_one(entry)
            except TransferError as error:
                problems.append(f"{slug}: {error}")
                continue
            if weakenings and not allow_weaker_security:
                problems.append(
                    f"{slug}: would weaken security ({' '.join(weakenings)}) Run again with "
                    "--allow-weaker-security to apply it."
                )
            results.append((slug, outcome, weakenings))
        if problems:
            transaction.set_rollback(True)
            raise TransferError("\n".join(problems))
    return results


def import_one(entry):
    """``(outcome, weakenings)`` of applying ``entry`` (see import_)."""
    existing = IdentityProvider.objects.filter(slug=entry.get("slug")).first()
    if existing is not None and exported(existing) == normalized(entry, existing):
        return "unchanged", []
    # A new IdP is judged against the model's defaults.
    before = (existing or IdentityProvider()).risky_choices(None if existing else [])
    form = SettingsForm(data=form_data(entry, existing), instance=existing)
    if not form.is_valid():
        raise TransferError(errors_as_text(form.errors))
    identity_provider = form.save()
    replace_domains(identity_provider, entry.get("email_domains", []))
    replace_group_mappings(identity_provider, entry.get("group_mappings", []))
    after = identity_provider.risky_choices()
    weakenings = [warning for key, warning in after.items() if key not in before]
    return "created" if existing is None else "updated", weakenings


def form_data(entry, existing):
    """What the admin's form would post for ``entry``: an omitted setting keeps the existing
    IdP's value, or the model's default for a new one (an unposted checkbox would mean off)."""
    data = {}
    for name in SETTINGS_FIELDS:
        if name in entry:
            value = entry[name]
        elif existing is not None:
            value = getattr(existing, name)
        else:
            value = IdentityProvider._meta.get_field(name).get_default()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, dict | list):
            data[name] = json.dumps(value)
        elif value is not None:
            data[name] = value
    return data


def normalized(entry, existing):
    """``entry`` as exported() would show it, defaults filled from ``existing``."""
    current = exported(existing)
    changes = {key: entry[key] for key in current if key in entry}
    # As the form stores them: whitespace around a document or a PEM is not a change.
    if isinstance(changes.get("metadata_xml"), str):
        changes["metadata_xml"] = changes["metadata_xml"].strip()
    if changes.get("metadata_signing_certificate"):
        changes["metadata_signing_certificate"] = normalize_pem(
            changes["metadata_signing_certificate"]
        )
    return {**current, **changes}


def replace_domains(identity_provider, domains):
    identity_provider.email_domains.all().delete()
    for domain in domains:
        email_domain = EmailDomain(identity_provider=identity_provider, domain=domain)
        try:
            email_domain.full_clean()
        except Exception as error:  # noqa: BLE001 - ValidationError, with its message
            raise TransferError(f"email domain {domain!r}: {error}") from error
        email_domain.save()


def replace_group_mappings(identity_provider, mappings):
    identity_provider.group_mappings.all().delete()
    for mapping in mappings:
        group_name = mapping.get("group")
        group_mapping = GroupMapping(
            identity_provider=identity_provider,
            value=mapping.get("value", ""),
            group=Group.objects.get_or_create(name=group_name)[0] if group_name else None,
            grants_staff=bool(mapping.get("grants_staff")),
            grants_superuser=bool(mapping.get("grants_superuser")),
        )
        try:
            group_mapping.full_clean()
        except Exception as error:  # noqa: BLE001 - ValidationError, with its message
            raise TransferError(f"group mapping {mapping!r}: {error}") from error
        group_mapping.save()
