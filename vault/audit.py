"""The audit trail: one AuditEvent per security-relevant act. Never key material."""
from flask import has_request_context, request

from .db import AuditEvent


def record(user, action, subject, outcome="ok", version=None, detail=None):
    ip = request.remote_addr if has_request_context() else "cli"
    return AuditEvent.create(user=user, action=action, subject=subject[:120], outcome=outcome,
                             version=version, ip=ip, detail=detail and detail[:300])


def key_use(target):
    """What an audited call carried where: "provider_secret → api.openai.com" (never the key)."""
    from . import hosts
    return f"{target.key_source} → {hosts.describe(target.base_url)}"
