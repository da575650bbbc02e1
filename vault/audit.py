"""The audit trail: one AuditEvent per security-relevant act. Never key material."""
from flask import has_request_context, request

from .db import AuditEvent


def record(user, action, subject, outcome="ok", version=None):
    ip = request.remote_addr if has_request_context() else "cli"
    return AuditEvent.create(user=user, action=action, subject=subject[:120], outcome=outcome,
                             version=version, ip=ip)
