"""How asserted values are compared: Unicode NFKC, without surrounding space, and without
regard to case where the value is an email address or a domain."""

import unicodedata


def normalize(value):
    return unicodedata.normalize("NFKC", str(value)).strip()


def normalize_email(value):
    return normalize(value).casefold()


def normalize_name_id(value):
    """Email-like NameIDs compare without regard to case, as mail systems treat them; opaque
    persistent IDs keep their case, which may be significant."""
    value = normalize(value)
    return value.casefold() if "@" in value else value
