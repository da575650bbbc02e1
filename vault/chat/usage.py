"""The usage ledger: one UsageRecord row per (user, model, key source, day), incremented by each
chat. It is written after the answer has gone out (response.call_on_close), in one upsert."""
import datetime as dt
import logging

import peewee as pw

from ..db import UsageRecord, database, utcnow

log = logging.getLogger(__name__)


def record(user_id, target, usage=None, error=False):
    """Adds one request; never raises, since the client already has its answer."""
    usage = usage or {}
    prompt, completion = _tokens(usage.get("prompt_tokens")), _tokens(usage.get("completion_tokens"))
    try:
        with database.connection_context():
            UsageRecord.insert(
                user=user_id, model=target.model_id, key_source=target.key_source, provider=target.provider,
                day=utcnow().date(), requests=1, prompt_tokens=prompt, completion_tokens=completion,
                errors=int(error),
            ).on_conflict(
                conflict_target=[UsageRecord.user, UsageRecord.model, UsageRecord.key_source, UsageRecord.day],
                update={UsageRecord.requests: UsageRecord.requests + 1,
                        UsageRecord.prompt_tokens: UsageRecord.prompt_tokens + prompt,
                        UsageRecord.completion_tokens: UsageRecord.completion_tokens + completion,
                        UsageRecord.errors: UsageRecord.errors + int(error)},
            ).execute()
    except pw.PeeweeException as exc:
        log.error("usage not recorded: %s", type(exc).__name__)


def _tokens(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def since(user, days):
    """Rows of the last `days` days, newest first, with each model's current name."""
    from ..db import LLMModel
    first = utcnow().date() - dt.timedelta(days=days - 1)
    query = (UsageRecord.select(UsageRecord, LLMModel.name.alias("model_name"))
             .join(LLMModel, pw.JOIN.LEFT_OUTER, on=(UsageRecord.model == LLMModel.id))
             .where(UsageRecord.user == user, UsageRecord.day >= first)
             .order_by(UsageRecord.day.desc(), UsageRecord.model))
    return list(query.objects())


def totals(user, days, key):
    """{provider or model id: {"requests", "tokens"}} over `days` days, for the pages' summaries."""
    out = {}
    for row in since(user, days):
        entry = out.setdefault(getattr(row, key), {"requests": 0, "tokens": 0, "errors": 0})
        entry["requests"] += row.requests
        entry["tokens"] += row.prompt_tokens + row.completion_tokens
        entry["errors"] += row.errors
    return out
