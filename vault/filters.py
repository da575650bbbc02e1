"""Jinja filters for pages: relative times, ISO 8601 for <time datetime>."""
from .db import iso, utcnow


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


def init_app(app):
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["iso"] = iso
    app.jinja_env.filters["tokens"] = tokens
    from .secrets.forms import last_day
    app.jinja_env.globals["last_day"] = last_day
