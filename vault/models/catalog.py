"""Shared catalog models (no owner, no key) loaded from a JSON or TOML file, idempotently."""
import json
import tomllib
import uuid

from ..db import LLMModel, database, utcnow
from ..validate import FieldError
from . import service

ALLOWED = {"name", "provider", "model_id", "base_url", "auth_type", "supports_streaming", "supports_tools"}


class CatalogError(ValueError):
    pass


def read(path):
    """The list of model entries in a .json or .toml file: a list, or {"models": [...]}."""
    text = open(path, "rb").read()
    try:
        data = tomllib.loads(text.decode()) if str(path).endswith(".toml") else json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path} is not valid {'TOML' if str(path).endswith('.toml') else 'JSON'}: "
                           f"{type(exc).__name__}") from None
    entries = data.get("models") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CatalogError("Expected a list of models, or a table with a `models` list.")
    return entries


def load(entries):
    """Creates or updates shared models by name. Returns (created, updated, unchanged); all or nothing."""
    counts = [0, 0, 0]
    with database.atomic():
        for n, entry in enumerate(entries, 1):
            extra = set(entry) - ALLOWED
            if extra:
                raise CatalogError(f"model {n}: unknown field {sorted(extra)[0]!r} (shared models never hold a key)")
            try:
                values = service.clean(entry)
            except FieldError as exc:
                raise CatalogError(f"model {n}: {exc.message}") from None
            counts[_upsert(values)] += 1
    return tuple(counts)


def _upsert(values):
    catalog = LLMModel.user.is_null() & LLMModel.team.is_null()
    row = LLMModel.get_or_none(catalog, LLMModel.name == values["name"])
    if row is None:
        LLMModel.create(id=str(uuid.uuid4()), user=None, **values)
        return 0
    if all(getattr(row, k) == v for k, v in values.items()):
        return 2
    LLMModel.update(updated_at=utcnow(), version=LLMModel.version + 1, **values).where(
        LLMModel.id == row.id).execute()
    return 1
