"""Base URLs: each provider's default after VAULT_PROVIDER_BASE_URLS, and the checks on those a
user may point a model at: well-formed, no credentials inside, and under
VAULT_BASE_URL_POLICY=public nothing on loopback, private or link-local addresses (no SSRF)."""
import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app

from .providers import PROVIDERS


class BadURL(ValueError):
    pass


def base_url_for(provider_id):
    """The provider's default base URL, after VAULT_PROVIDER_BASE_URLS overrides."""
    overrides = current_app.extensions.get("vault.base_urls", {})
    return overrides.get(provider_id) or PROVIDERS[provider_id].base_url


def parse_overrides(text):
    """`openai=https://proxy.corp/v1,anthropic=…` → {"openai": "https://proxy.corp/v1", …}."""
    overrides = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        name, _, url = part.partition("=")
        if name.strip() not in PROVIDERS or not url.strip().startswith(("http://", "https://")):
            raise ValueError(f"VAULT_PROVIDER_BASE_URLS: '{part}' is not provider=http(s)://url")
        overrides[name.strip()] = url.strip().rstrip("/")
    return overrides


def init_app(app):
    app.extensions["vault.base_urls"] = parse_overrides(app.config["VAULT_PROVIDER_BASE_URLS"])


def check_base_url(url, policy="any"):
    """The URL without a trailing slash, or BadURL with a sentence saying what is wrong."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1": an unclosed IPv6 bracket
        raise BadURL("The base URL is not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadURL("Use an http:// or https:// URL with a host, such as https://api.openai.com/v1.")
    if parts.username or parts.password:
        raise BadURL("Put credentials in the API key field, not in the URL.")
    if parts.query or parts.fragment or any(c.isspace() for c in url):
        raise BadURL("A base URL has no spaces, query string or fragment.")
    if "{" in url:
        raise BadURL("Replace the {placeholder} in the base URL with your own value.")
    try:
        parts.port
    except ValueError:
        raise BadURL("The port in the base URL is not a number from 1 to 65535.") from None
    if policy == "public":
        refuse_private(parts.hostname)
    return url.rstrip("/")


def refuse_private(host):
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise BadURL(f"The host {host} could not be resolved.") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise BadURL(f"This server only allows public base URLs; {host} is a loopback, private or "
                         "link-local address.")


def host_of(url):
    """host[:port] for messages; never the path, query or credentials."""
    parts = urlsplit(url or "")
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host
