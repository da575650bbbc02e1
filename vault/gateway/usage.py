"""The usage ledger: one UsageRecord row per (user, model, key source, day). Chats only add to
an in-process tally (microseconds, no database on a chat's path); a background thread writes
it in one transaction every second, and reads flush first. A crash loses at most that second."""
import atexit
import datetime as dt
import logging
import os
import threading
import time

import peewee as pw

from ..db import LLMModel, Team, UsageRecord, database, utcnow
from ..llm.http import count

log = logging.getLogger(__name__)
FLUSH_EVERY = 1.0
MAX_TOKENS = 10**12  # per request: far above any real answer, far below what a column holds
_pending = {}  # (user_id, model_id, key_source, provider, day) -> [requests, prompt, completion, errors]
_lock = threading.Lock()      # guards _pending; held for microseconds
_flushing = threading.Lock()  # one flush at a time; held while writing
_writer_pid = None


def record(user_id, target, usage=None, error=False):
    """Counts one request (`usage`: the provider's llm.types.Usage, if it said); never touches
    the database."""
    key = (user_id, target.model_id, target.key_source, target.provider, utcnow().date())
    with _lock:
        counts = _pending.setdefault(key, [0, 0, 0, 0])
        counts[0] += 1
        if usage is not None:
            counts[1] += tokens(usage.prompt_tokens)
            counts[2] += tokens(usage.completion_tokens)
        counts[3] += int(error)
    _start_writer()


def tokens(value):
    """A provider's token count as the ledger takes it: a whole number from 0 to MAX_TOKENS;
    anything else (true, text that is no number, a negative) counts 0."""
    return 0 if isinstance(value, bool) else min(count(value), MAX_TOKENS)


def flush():
    """Writes what has been counted. A database that is away keeps the counts for the next try;
    a row that cannot be written (its user was deleted meanwhile, a total past what the column
    holds) is dropped, and only that row: each is written in a savepoint. One flush at a time:
    a reader's flush waits for the writer's to commit, else it could read before the counts the
    writer took are in."""
    with _flushing:
        _flush()


def quiet():
    """Held, the background writer touches no database connection: what closes the pool (the
    tests, between apps) holds it, or it could close a connection the writer is using."""
    return _flushing


def _flush():
    global _pending
    with _lock:
        batch, _pending = _pending, {}
    if not batch:
        return
    try:
        with database.connection_context(), database.atomic():
            for key, counts in batch.items():
                _write_row(key, counts)
    except pw.PeeweeException as exc:
        log.error("usage not written yet (%s); retrying", type(exc).__name__)
        with _lock:
            for key, counts in batch.items():
                merged = _pending.setdefault(key, [0, 0, 0, 0])
                merged[:] = [a + b for a, b in zip(merged, counts)]


def _write_row(key, counts):
    try:
        with database.atomic():  # a savepoint: a row that fails takes no other row with it
            _upsert(key, counts)
    except (pw.IntegrityError, pw.DataError, OverflowError) as exc:  # SQLite: OverflowError
        log.warning("a usage row could not be written and was dropped (%s)", type(exc).__name__)


def _upsert(key, counts):
    user_id, model_id, key_source, provider, day = key
    requests, prompt, completion, errors = counts
    UsageRecord.insert(
        user=user_id, model=model_id, key_source=key_source, provider=provider, day=day,
        requests=requests, prompt_tokens=prompt, completion_tokens=completion, errors=errors,
    ).on_conflict(
        conflict_target=[UsageRecord.user, UsageRecord.model, UsageRecord.key_source, UsageRecord.day],
        update={UsageRecord.requests: UsageRecord.requests + requests,
                UsageRecord.prompt_tokens: UsageRecord.prompt_tokens + prompt,
                UsageRecord.completion_tokens: UsageRecord.completion_tokens + completion,
                UsageRecord.errors: UsageRecord.errors + errors},
    ).execute()


def _start_writer():
    # One per process, as a forked gunicorn worker has no threads. A pid compare, because
    # Thread.is_alive() takes a lock (a greenlet switch point under gevent): ~15 µs a chat.
    global _writer_pid
    if _writer_pid != os.getpid():
        with _lock:
            if _writer_pid != os.getpid():
                threading.Thread(target=_write_forever, name="usage-writer", daemon=True).start()
                _writer_pid = os.getpid()


def _write_forever():
    while True:
        time.sleep(FLUSH_EVERY)
        try:
            flush()
        except Exception as exc:  # noqa: BLE001 - the writer must outlive one bad batch
            log.error("usage flush failed: %s", type(exc).__name__)


atexit.register(flush)


def since(who, days):
    """Rows of the last `days` days, newest first, with each model's current name: a user's, or
    (for a Team) every member's use of the team's models."""
    flush()  # what this process counted so far is in the answer
    first = utcnow().date() - dt.timedelta(days=days - 1)
    if isinstance(who, Team):
        whose = UsageRecord.model.in_(LLMModel.select(LLMModel.id).where(LLMModel.team == who))
    else:
        whose = UsageRecord.user == who
    query = (UsageRecord.select(UsageRecord, LLMModel.name.alias("model_name"))
             .join(LLMModel, pw.JOIN.LEFT_OUTER, on=(UsageRecord.model == LLMModel.id))
             .where(whose, UsageRecord.day >= first)
             .order_by(UsageRecord.day.desc(), UsageRecord.model))
    return list(query.objects())


def totals(user, days, key, key_source=None):
    """{provider or model id: {"requests", "tokens", "errors"}} over `days` days, for the pages'
    summaries; `key_source` keeps only the requests that used that kind of key."""
    out = {}
    for row in since(user, days):
        if key_source and row.key_source != key_source:
            continue
        entry = out.setdefault(getattr(row, key), {"requests": 0, "tokens": 0, "errors": 0})
        entry["requests"] += row.requests
        entry["tokens"] += row.prompt_tokens + row.completion_tokens
        entry["errors"] += row.errors
    return out
