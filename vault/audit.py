"""The audit trail: one AuditEvent per security-relevant act. Never key material."""
from flask import has_request_context

from .db import AuditEvent, utcnow


def record(user, action, subject, outcome="ok", version=None, detail=None):
    from .ratelimit import client_address  # the address behind a trusted proxy, as limits count it
    ip = client_address()[:64] if has_request_context() else "cli"
    return AuditEvent.create(user=user, action=action, subject=subject[:120], outcome=outcome,
                             version=version, ip=ip, detail=detail and detail[:300])


def record_once(user, action, subject, outcome, within, alike=None):
    """record(), unless the same user, action and outcome already has a row for this subject
    (or for any subject `alike` matches) from the last `within`: what a script repeats many
    times a second is kept once, not once per request. Returns the new row or None."""
    subject = subject[:120]
    since = utcnow() - within
    same = alike if alike is not None else AuditEvent.subject == subject
    seen = AuditEvent.select().where(AuditEvent.at >= since, AuditEvent.user == user,
                                     AuditEvent.action == action, AuditEvent.outcome == outcome, same)
    return None if seen.exists() else record(user, action, subject, outcome)


def key_use(target):
    """What an audited call carried where: "provider_secret → api.openai.com" (never the key)."""
    from . import hosts
    return f"{target.key_source} → {hosts.describe(target.base_url)}"
