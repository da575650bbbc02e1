"""Where a stored key may travel: the host patterns of a provider secret (README, Security model).
A pattern is a host (`api.openai.com`), a host and port (`127.0.0.1:8080`) or a wildcard suffix
(`*.openai.azure.com`: any name below it, not itself). Without a port a pattern allows https on
any port; plain http, which carries the key unencrypted, only to a port the pattern names."""
import functools
import re

from urllib3.util import parse_url

from .validate import FieldError

MAX_PATTERNS = 20
MAX_LENGTH = 253  # the longest DNS name
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_PATTERN = re.compile(rf"(?P<host>(?:\*\.)?{_LABEL}(?:\.{_LABEL})*|\[[0-9a-f:.]+\])(?::(?P<port>\d{{1,5}}))?")


def parse(value):
    """A list of patterns from JSON (or a comma/space separated string from a form), checked and
    lower-cased; a FieldError on allowed_hosts naming what is wrong."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise _refused("'allowed_hosts' must be a list of host patterns.")
    patterns = list(dict.fromkeys(p.strip().lower() for p in value))
    if not patterns:
        raise _refused("'allowed_hosts' needs at least one host, such as api.openai.com.")
    if len(patterns) > MAX_PATTERNS:
        raise _refused(f"'allowed_hosts' takes at most {MAX_PATTERNS} hosts.")
    for pattern in patterns:
        _check(pattern)
    return patterns


def _check(pattern):
    """Each message starts with the field's name: a page shows it next to the field, a script
    reading only the message still learns which field is wrong."""
    shown = pattern[:60]
    if len(pattern) > MAX_LENGTH:
        raise _refused(f"'allowed_hosts': a host pattern is longer than {MAX_LENGTH} characters.")
    if "://" in pattern or "/" in pattern:
        raise _refused(f"'allowed_hosts': '{shown}' is a URL; give the host alone, such as api.openai.com.")
    if pattern in ("*", "*.") or pattern.startswith("*") and not pattern.startswith("*."):
        raise _refused(f"'allowed_hosts': '{shown}' would match too much; a wildcard is '*.' and a domain, "
                       "such as *.openai.azure.com.")
    match = _PATTERN.fullmatch(pattern)
    if match is None or pattern.startswith("*.") and "." not in pattern[2:]:
        raise _refused(f"'allowed_hosts': '{shown}' is not a host pattern: a host, host:port or *.domain.")
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        raise _refused(f"'allowed_hosts': '{shown}' has a port outside 1 to 65535.")


def _refused(message):
    return FieldError("allowed_hosts", message, "invalid_allowed_hosts")


def default_for(base_url):
    """The patterns a new secret gets from its provider's (effective) default base URL: its host
    (https on any port), or host:port for plain http; a {placeholder} label becomes a wildcard
    (Azure's {resource}.openai.azure.com is *.openai.azure.com). None when there is no default URL."""
    if not base_url:
        return None
    return [re.sub(r"^\{[^}]*\}\.", "*.", pattern_for(base_url))]


def allows(patterns, url):
    """True when the URL's scheme, host and port are what one of the patterns allows."""
    place = where(url)
    return bool(place and place[1]) and any(_matches(p, *place) for p in patterns or ())


def plain_http(url):
    """True for an http:// URL: the key would cross the network unencrypted."""
    place = where(url)
    return bool(place) and place[0] == "http"


def where(url):
    """(scheme, host, port) as the connection will see them: urllib3's reading of the URL, which
    is the one that connects, not urlsplit's (they disagree on a backslash, for one). IPv6 in
    brackets. None for a URL nothing could connect to."""
    try:
        parts = parse_url(url or "")
    except ValueError:  # urllib3's LocationParseError
        return None
    if parts.port == 0:  # stored before base URLs refused it
        return None
    scheme = (parts.scheme or "").lower()
    return scheme, (parts.host or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


@functools.lru_cache(maxsize=4096)
def stored_allows(stored, url):
    """allows() for the stored form (space-separated), cached: it runs on every chat."""
    return allows(stored.split(), url)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _matches(pattern, scheme, host, port):
    name, wanted = _split(pattern)
    if wanted is None and scheme != "https":
        return False  # a host named without a port: https only
    if wanted is not None and wanted != port:
        return False
    if name.startswith("*."):
        return host.endswith(name[1:])
    return host == name


def covers(defaults, pattern):
    """True when every host and port `pattern` matches, one of `defaults` matches too: naming it
    narrows where a key may go (your own Azure resource under *.openai.azure.com), never widens."""
    name, port = _split(pattern)
    for default in defaults or ():
        default_name, default_port = _split(default)
        if default_port != port:
            continue  # the ports must agree: one named opens plain http, which a default without one does not
        under = default_name.startswith("*.") and name.removeprefix("*").endswith(default_name[1:])
        if name == default_name or under:
            return True
    return False


def _split(pattern):
    """("host", port or None) of a pattern; an IPv6 address in brackets keeps its colons."""
    if pattern.endswith("]") or ":" not in pattern:
        return pattern, None
    name, _, port = pattern.rpartition(":")
    return name, int(port)


def pattern_for(url):
    """The pattern that allows the URL and no more: its host for https, host:port for plain http.
    What a refusal tells the owner to add, and what a migration adds."""
    place = where(url)
    if place is None:
        return "an unreadable URL"
    scheme, host, port = place
    return f"{host}:{port}" if scheme == "http" else host


def describe(url):
    """host[:port] where a call went, for the audit trail: the port when the URL names one or is
    plain http."""
    place = where(url)
    if place is None:
        return "an unreadable URL"
    scheme, host, port = place
    return f"{host}:{port}" if scheme == "http" or parse_url(url).port else host


def allowed_over_https(patterns, url):
    """True when the patterns allow the URL's host and port over https: for a plain-http URL, what
    a host named without a port allowed before it meant https only."""
    place = where(url)
    return bool(place) and allows(patterns, f"https://{place[1]}:{place[2]}")
