"""Master-key rotation: every stored value re-encrypted under the first key, in one transaction.
Each row is written only if it still holds the value that was read (compare-and-set), so a key
changed while the rotation runs is read again, never overwritten with the old one."""
from . import crypto
from .db import MASTER_KEY_CHECK, LLMModel, ProviderSecret, TeamSecret, VaultMeta, write_txn

PASSES = 3
SEALED = (ProviderSecret, TeamSecret, LLMModel)  # every table holding encrypted keys


def rotate_all(ring):
    """Returns (moved, total). Raises DecryptError, changing nothing, if any value will not open."""
    moved, total = _pass(ring)
    for _ in range(PASSES - 1):
        # A write that read a row before this pass moved it, and saved the whole row after, put
        # back the value under the old key: one more pass moves it too.
        if not _left_behind(ring):
            break
        moved += _pass(ring)[0]
    return moved, total


def _pass(ring):
    moved = total = 0
    with write_txn():
        for model in SEALED:
            for row in model.select().where(model.api_key_encrypted.is_null(False)):
                counted, changed = _rotate_row(ring, model, row)
                total, moved = total + counted, moved + changed
        total += 1
        blob = _reencrypted(ring, VaultMeta.read(MASTER_KEY_CHECK), crypto.CHECK_AAD, "check value")
        if blob:
            VaultMeta.write(MASTER_KEY_CHECK, blob)
            moved += 1
    return moved, total


def _rotate_row(ring, model, row):
    """(counted, moved) for one row. Compare-and-set on the value read: when it changed since
    (a key rotated by its owner meanwhile), the row is read again and the new value rotated."""
    while True:
        blob = _reencrypted(ring, row.api_key_encrypted, row.aad, f"{model.__name__} {row.id}")
        if blob is None:
            return 1, 0
        if model.update(api_key_encrypted=blob).where(
                model.id == row.id, model.api_key_encrypted == row.api_key_encrypted).execute():
            return 1, 1
        row = model.get_or_none(model.id == row.id)
        if row is None or row.api_key_encrypted is None:  # deleted, or its key removed, meanwhile
            return 0, 0


def _left_behind(ring):
    """True when a stored value is not under the first key."""
    current = f"{crypto.FORMAT}.{ring.primary}."
    return any(model.select().where(model.api_key_encrypted.is_null(False),
                                    ~model.api_key_encrypted.startswith(current)).exists()
               for model in SEALED)


def _reencrypted(ring, blob, aad, label):
    """The value under the first key, or None when it is there already (proved to open)."""
    plaintext = ring.decrypt(blob, aad, label)
    if ring.key_id_of(blob) == ring.primary:
        return None
    return ring.encrypt(plaintext.reveal(), aad)
