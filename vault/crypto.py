"""AES-256-GCM for stored keys: master keys from VAULT_MASTER_KEYS, key id in every value,
the owning row bound as associated data. Also the key preview and fingerprint shown to users."""
import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import DecryptError  # raised here; errors.py renders it

FORMAT = "v1"
CHECK_PLAINTEXT = "provider-secrets-vault check value"
CHECK_AAD = "vault_meta|check"
KNOWN_PREFIXES = ("sk-ant-", "sk-proj-", "sk-or-", "sk-", "hf_", "gsk_", "xai-", "AIza")


class MasterKeyError(ValueError):
    """VAULT_MASTER_KEYS cannot be parsed; the message names the variable, never the value."""


class Plaintext:
    """A decrypted key. It prints as *** so it cannot slip into a log, an error or a template."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def reveal(self):
        return self._value

    def __repr__(self):
        return "Plaintext(***)"

    __str__ = __repr__

    def __eq__(self, other):
        return isinstance(other, Plaintext) and other._value == self._value

    def __hash__(self):
        return hash(self._value)

    def __reduce__(self):
        raise TypeError("Plaintext cannot be pickled")


class Keyring:
    """The first key encrypts; every key decrypts. Key ids are 8 hex digits of a hash of the key."""

    def __init__(self, spec):
        keys = [_parse_key(part.strip(), n) for n, part in enumerate(spec.split(","), 1) if part.strip()]
        if not keys:
            raise MasterKeyError("VAULT_MASTER_KEYS is empty")
        self._ciphers = {key_id(k): AESGCM(k) for k in keys}
        self.primary = key_id(keys[0])

    def encrypt(self, plaintext, aad):
        nonce = os.urandom(12)
        sealed = self._ciphers[self.primary].encrypt(nonce, plaintext.encode(), aad.encode())
        return f"{FORMAT}.{self.primary}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, blob, aad, row=None):
        try:
            fmt, kid, body = blob.split(".", 2)
            raw = base64.urlsafe_b64decode(body)
            cipher = self._ciphers[kid] if fmt == FORMAT else None
            return Plaintext(cipher.decrypt(raw[:12], raw[12:], aad.encode()).decode())
        except (ValueError, KeyError, AttributeError, InvalidTag, binascii.Error, UnicodeDecodeError):
            raise DecryptError(row or aad) from None

    def key_id_of(self, blob):
        return blob.split(".", 2)[1] if blob.count(".") >= 2 else None

    def opens(self, blob, aad):
        try:
            self.decrypt(blob, aad)
            return True
        except DecryptError:
            return False


def _parse_key(text, position):
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4),
                               validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise MasterKeyError(f"key {position} in VAULT_MASTER_KEYS is not 32 bytes of base64 "
                             "(flask --app app generate-master-key prints one)")
    return raw


def key_id(raw):
    return hashlib.sha256(b"vault-master-key-id:" + raw).hexdigest()[:8]


def preview(key):
    """`sk-…9f2c`: a known prefix, an ellipsis, the last four; short keys show nothing."""
    if len(key) < 12:
        return "…"
    prefix = next((p for p in KNOWN_PREFIXES if key.startswith(p)), "")
    return f"{prefix}…{key[-4:]}"


def fingerprint(key):
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:8]


# --- the app's keyring -------------------------------------------------------------------

def install(app):
    """Parse VAULT_MASTER_KEYS into the app's keyring; db.check_master_key then proves it opens
    this database before anything is written."""
    ring = Keyring(app.config["VAULT_MASTER_KEYS"])
    app.extensions["vault.keyring"] = ring
    return ring


def keyring():
    from flask import current_app
    return current_app.extensions["vault.keyring"]


def encrypt(plaintext, aad):
    return keyring().encrypt(plaintext, aad)


def decrypt(blob, aad, row=None):
    return keyring().decrypt(blob, aad, row)
