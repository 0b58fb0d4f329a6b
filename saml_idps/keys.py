"""The SP's own key pair: signs AuthnRequests, decrypts encrypted assertions, and is published
in the SP metadata. From files or PEM text in the settings; otherwise generated once into the
key folder, which is fine for development and warned about in production (checks.py)."""

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .certificates import generate_self_signed
from .conf import app_setting


@dataclass(frozen=True)
class KeyPair:
    key_file: str
    cert_file: str


def configured():
    """Whether a key was given in the settings (rather than generated here)."""
    return bool(
        (app_setting("SP_KEY_FILE") and app_setting("SP_CERT_FILE"))
        or (app_setting("SP_KEY_PEM") and app_setting("SP_CERT_PEM"))
    )


@functools.cache
def current():
    """The key pair in use. Resolved once per process."""
    if app_setting("SP_KEY_FILE") and app_setting("SP_CERT_FILE"):
        return KeyPair(str(app_setting("SP_KEY_FILE")), str(app_setting("SP_CERT_FILE")))
    if app_setting("SP_KEY_PEM") and app_setting("SP_CERT_PEM"):
        return write_pair("configured", app_setting("SP_KEY_PEM"), app_setting("SP_CERT_PEM"))
    folder = key_folder()
    pair = KeyPair(str(folder / "sp.key"), str(folder / "sp.crt"))
    if not Path(pair.key_file).exists():
        key_pem, cert_pem = generate_self_signed(f"{settings.ROOT_URLCONF} SAML SP")
        write_pair("sp", key_pem.decode(), cert_pem.decode())
    return pair


@functools.cache
def upcoming():
    """The next key pair during a rollover, or None. Its certificate is published for
    encryption and it decrypts, before it becomes the current pair."""
    key_file, cert_file = app_setting("SP_NEXT_KEY_FILE"), app_setting("SP_NEXT_CERT_FILE")
    return KeyPair(str(key_file), str(cert_file)) if key_file and cert_file else None


def key_folder():
    return Path(app_setting("SP_KEY_DIR") or Path(settings.BASE_DIR) / "var" / "sp_keys")


def write_pair(name, key_pem, cert_pem):
    folder = key_folder()
    folder.mkdir(parents=True, exist_ok=True)
    key_file, cert_file = folder / f"{name}.key", folder / f"{name}.crt"
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key_pem.strip() + "\n")
    cert_file.write_text(cert_pem.strip() + "\n")
    return KeyPair(str(key_file), str(cert_file))
