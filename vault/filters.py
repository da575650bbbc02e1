"""Jinja filters for pages: relative times, ISO 8601 for <time datetime>, names for ids."""
import datetime as dt

from flask import url_for

from . import providers
from .db import iso, utcnow

KEY_SOURCES = {"model": "own key", "provider_secret": "provider secret", "team_secret": "team secret",
               "none": "no key needed"}
SECRET_ACTIONS = {"create": "added", "rotate": "rotated", "update": "expiry changed",
                  "allow_hosts": "allowed hosts changed", "check": "checked", "delete": "deleted"}


def ago(value):
    if value is None:
        return "never"
    seconds = int((utcnow() - value).total_seconds())
    if seconds < 0:
        return _span(-seconds, "in {}")
    return "just now" if seconds < 45 else _span(seconds, "{} ago")


def _span(seconds, pattern):
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            return pattern.format(f"{n} {unit}{'s' if n != 1 else ''}")
    return pattern.format(f"{seconds} seconds")


def tokens(count):
    """1234 → "1.2k", 2500000 → "2.5M"."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)


def provider_label(provider_id):
    """"OpenAI" for "openai": pages show names, the API shows ids."""
    entry = providers.get(provider_id)
    return entry.label if entry else provider_id


def key_source(source):
    return KEY_SOURCES.get(source, str(source).replace("_", " "))


def secret_action(action):
    """An audit row's action in words: "secret.allow_hosts" → "allowed hosts changed"."""
    action = action.removeprefix("secret.")
    return SECRET_ACTIONS.get(action, action.replace("_", " "))


def last_day(expires_at):
    """The last day a key expiring at `expires_at` (an end of day) is still used: the form's date."""
    return (expires_at - dt.timedelta(seconds=1)).date() if expires_at else None


def secret_url(view, provider, team=None):
    """A secret row's action: on /secrets, or on a team's page for the team's secret (the two
    share the row templates)."""
    if team:
        return url_for(f"teams.secret_{view}", team_id=team.id, provider=provider)
    return url_for(f"secrets.{view}", provider=provider)


def init_app(app):
    app.jinja_env.filters.update(ago=ago, iso=iso, tokens=tokens, provider_label=provider_label,
                                 key_source=key_source, secret_action=secret_action)
    app.jinja_env.globals.update(last_day=last_day, secret_url=secret_url)
