"""Master-key rotation: every stored value re-encrypted under the first key, in one transaction."""
from . import crypto
from .db import MASTER_KEY_CHECK, LLMModel, ProviderSecret, VaultMeta, write_txn


def rotate_all(ring):
    """Returns (moved, total). Raises DecryptError, changing nothing, if any value will not open."""
    moved = total = 0
    with write_txn():
        for model in (ProviderSecret, LLMModel):
            for row in model.select().where(model.api_key_encrypted.is_null(False)):
                total += 1
                blob = _reencrypted(ring, row.api_key_encrypted, row.aad, f"{model.__name__} {row.id}")
                if blob:
                    model.update(api_key_encrypted=blob).where(model.id == row.id).execute()
                    moved += 1
        total += 1
        blob = _reencrypted(ring, VaultMeta.read(MASTER_KEY_CHECK), crypto.CHECK_AAD, "check value")
        if blob:
            VaultMeta.write(MASTER_KEY_CHECK, blob)
            moved += 1
    return moved, total


def _reencrypted(ring, blob, aad, label):
    """The value under the first key, or None when it is there already (proved to open)."""
    plaintext = ring.decrypt(blob, aad, label)
    if ring.key_id_of(blob) == ring.primary:
        return None
    return ring.encrypt(plaintext.reveal(), aad)
