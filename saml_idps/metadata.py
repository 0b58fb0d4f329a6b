"""Registering and refreshing an IdP's metadata: fetch (fetching.py), check (idp_metadata.py),
then keep the new copy only when it may replace the last good one, with its history.

One pipeline for every way in: ``check_new_copy`` fetches or reads a document and checks it,
writing nothing (the admin's form calls it while it is cleaned, so a bad URL is a form error);
``register`` saves the IdP with that copy and records it in the history, in one transaction
(the admin, the CLI and import through the form, and ``refresh``). Never during a login, which
reads the last good copy from the database.
"""

from dataclasses import dataclass, replace

from cryptography.hazmat.primitives import hashes
from django.db import transaction
from django.utils import timezone

from .fetching import Fetched, fetch
from .idp_metadata import IdpMetadata, MetadataError, parse, parse_xml, read_entity
from .models import IdentityProvider, MetadataChange


@dataclass(frozen=True)
class NewCopy:
    """A checked metadata document an IdP may take, where it came from (a URL, or "" for
    pasted XML), and what it changes in words for the history ("": nothing to record)."""

    document: IdpMetadata
    fetched: Fetched | None
    source: str
    summary: str


@dataclass(frozen=True)
class RefreshResult:
    identity_provider: IdentityProvider
    outcome: str  # "updated", "unchanged" or "error"
    detail: str = ""


def check_replacement(identity_provider, metadata):
    """A new copy may not change the IdP's entity ID, nor take another IdP's."""
    if identity_provider.entity_id and metadata.entity_id != identity_provider.entity_id:
        raise MetadataError(
            f"The metadata now describes the entity {metadata.entity_id}, not "
            f"{identity_provider.entity_id}, so it was refused and the previous copy kept. If "
            "the IdP really changed its entity ID, register it as a new identity provider."
        )
    others = IdentityProvider.objects.filter(entity_id=metadata.entity_id)
    if others.exclude(pk=identity_provider.pk).exists():
        raise MetadataError(
            f"Another identity provider already has the entity ID {metadata.entity_id}."
        )


def check_new_copy(identity_provider, url="", xml="", entity_id="", pinned_certificate=""):
    """The document pasted as ``xml``, or else fetched from ``url``, checked as the IdP's next
    copy (MetadataError if it may not be). Writes nothing."""
    fetched = None if xml else fetch(url)
    document = parse(xml or fetched.body, entity_id, pinned_certificate)
    check_replacement(identity_provider, document)
    summary = describe_changes(identity_provider.metadata_xml, document)
    return NewCopy(document, fetched, "" if xml else url, summary)


def register(identity_provider, new_copy=None):
    """Save the IdP; with ``new_copy``, as its last good copy, recorded in its history."""
    with transaction.atomic():
        if new_copy is not None:
            apply(identity_provider, new_copy.document, new_copy.fetched)
        identity_provider.save()
        if new_copy is not None and new_copy.summary:
            record_change(identity_provider, new_copy.source, new_copy.summary)


def apply(identity_provider, metadata, fetched=None):
    """Make ``metadata`` the IdP's last good copy (register() saves the row)."""
    now = timezone.now()
    identity_provider.entity_id = metadata.entity_id
    identity_provider.metadata_xml = metadata.xml
    identity_provider.metadata_valid_until = metadata.valid_until
    identity_provider.signing_certificates = [
        certificate_summary(c) for c in metadata.signing_certificates
    ]
    identity_provider.certificates_expire_at = min(
        c.not_valid_after_utc for c in metadata.signing_certificates
    )
    identity_provider.metadata_signature = metadata.signature
    identity_provider.last_error = ""
    # Pasted metadata is not scheduled; a URL added later is refreshed at the next stale run.
    identity_provider.metadata_refresh_at = metadata.next_refresh(now) if fetched else None
    if fetched is not None:
        identity_provider.metadata_fetched_at = now
        identity_provider.metadata_etag = fetched.etag
        identity_provider.metadata_last_modified = fetched.last_modified


def certificate_summary(certificate):
    return {
        "sha256": certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
        "subject": certificate.subject.rfc4514_string(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
    }


def describe_changes(old_xml, metadata):
    """What a new copy changes, in lines an admin reads when logins start behaving differently."""
    new_certificates = {certificate_summary(c)["sha256"]: c for c in metadata.signing_certificates}
    if not old_xml:
        lines = [f"Registered {metadata.entity_id}."]
        lines += [f"Signing certificate: {describe(c)}" for c in new_certificates.values()]
        return "\n".join(lines)
    old = read_entity(parse_xml(old_xml.encode()))
    old_certificates = {certificate_summary(c)["sha256"]: c for c in old.signing_certificates}
    lines = [
        f"Signing certificate added: {describe(new_certificates[f])}"
        for f in new_certificates.keys() - old_certificates.keys()
    ]
    lines += [
        f"Signing certificate removed: {describe(old_certificates[f])}"
        for f in old_certificates.keys() - new_certificates.keys()
    ]
    lines += [
        f"Endpoint added: {service} {binding.rsplit(':', 1)[-1]} {location}"
        for service, binding, location in sorted(metadata.endpoints - old.endpoints)
    ]
    lines += [
        f"Endpoint removed: {service} {binding.rsplit(':', 1)[-1]} {location}"
        for service, binding, location in sorted(old.endpoints - metadata.endpoints)
    ]
    return "\n".join(lines) or "No signing certificate or endpoint changed."


def describe(certificate):
    summary = certificate_summary(certificate)
    return f"{summary['subject']}, SHA-256 {summary['sha256']}, expires {summary['not_after']}"


def describe_result(result):
    """A refresh's outcome in words, for the command line and the admin alike."""
    if result.outcome == "updated":
        return f"refreshed, the new copy is in use. {result.detail}"
    if result.outcome == "unchanged":
        return "unchanged"
    return f"failed, the last good copy stays in use. {result.detail}"


def record_change(identity_provider, source, summary):
    MetadataChange.objects.create(
        identity_provider=identity_provider, source=source or "pasted XML", summary=summary
    )


def refresh(identity_provider):
    """Fetch the IdP's metadata again and apply it when it passes every check.

    On any failure the last good copy stays as it is (logins keep working) and the reason is
    kept in ``last_error``.
    """
    url = identity_provider.metadata_url
    try:
        if not url:
            raise MetadataError("No metadata URL: paste the new metadata in the admin.")
        has_copy = bool(identity_provider.metadata_xml)
        fetched = fetch(
            url,
            identity_provider.metadata_etag if has_copy else "",
            identity_provider.metadata_last_modified if has_copy else "",
        )
        metadata = parse(
            fetched.body if fetched.body is not None else identity_provider.metadata_xml,
            identity_provider.aggregate_entity_id
            if fetched.body is not None
            else identity_provider.entity_id,
            identity_provider.metadata_signing_certificate if fetched.body is not None else "",
        )
        if fetched.body is None:  # 304: the stored copy, whose signature was judged when fetched
            metadata = replace(metadata, signature=identity_provider.metadata_signature)
        check_replacement(identity_provider, metadata)
    except MetadataError as error:
        IdentityProvider.objects.filter(pk=identity_provider.pk).update(
            last_error=f"{timezone.now():%Y-%m-%d %H:%M} UTC: {error}"
        )
        identity_provider.refresh_from_db()
        return RefreshResult(identity_provider, "error", str(error))

    changed = metadata.xml != identity_provider.metadata_xml
    summary = describe_changes(identity_provider.metadata_xml, metadata) if changed else ""
    register(identity_provider, NewCopy(metadata, fetched, url, summary))
    return RefreshResult(identity_provider, "updated" if changed else "unchanged", summary)
