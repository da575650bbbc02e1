"""Base URLs: each provider's default after VAULT_PROVIDER_BASE_URLS, and the checks on those a
user may point a model at: well-formed, no credentials inside, and under
VAULT_BASE_URL_POLICY=public only globally reachable addresses (no SSRF), by one rule that
vault/llm/http.py applies again to the addresses it connects to (no DNS rebinding)."""
import functools
import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app
from urllib3.util import parse_url

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
        try:  # the same checks as a model's base URL: a bad port here broke every chat later
            overrides[name.strip()] = check_base_url(url.strip())
        except BadURL as exc:
            raise ValueError(f"VAULT_PROVIDER_BASE_URLS: '{part}': {exc}") from None
    return overrides


def init_app(app):
    app.extensions["vault.base_urls"] = parse_overrides(app.config["VAULT_PROVIDER_BASE_URLS"])


def _connected_host(url):
    try:
        return (parse_url(url).host or "").strip("[]").lower()
    except ValueError:
        return None


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
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise BadURL("The port in the base URL is not a number from 1 to 65535.")
    if "\\" in url or _connected_host(url) != parts.hostname.lower():
        # urllib3, which connects, and urlsplit, which checked, must see the same host; a
        # backslash makes them differ ("https://evil.example\\.openai.azure.com")
        raise BadURL("The base URL's host is ambiguous (a backslash or odd characters before the path).")
    if policy == "public":
        public_addresses(parts.hostname, parts.port)  # NotPublic, a BadURL, says why not
    return url.rstrip("/")


class NotPublic(BadURL):
    """The host resolves to an address that VAULT_BASE_URL_POLICY=public refuses."""


# Ranges Python 3.11's is_global calls global and IANA's special-purpose registries do not:
# 192.0.0.0/24 outside two small blocks (192.0.0.8 among them), IPv4-compatible and
# IPv4-translated IPv6, local-use NAT64, site-local, SRv6 and documentation IPv6.
_NOT_GLOBAL = tuple(ipaddress.ip_network(n) for n in (
    "192.0.0.0/24", "::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48", "fec0::/10", "5f00::/16", "3fff::/20"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: judged by the IPv4 inside


@functools.lru_cache(maxsize=4096)  # a pure rule that runs on every request under "public": ~5 µs uncached
def is_public(address):
    """The one rule for where a provider connection may go under VAULT_BASE_URL_POLICY=public:
    a globally reachable unicast address. An IPv6 address carrying an IPv4 one (IPv4-mapped,
    NAT64, 6to4) is judged by that IPv4 address."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if ip.version == 6:
        inner = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if inner is not None:
            return is_public(inner)
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in _NOT_GLOBAL)


def public_addresses(host, port=None):
    """The addresses `host` resolves to, asked once and each vetted by is_public: the ones to
    connect to. NotPublic when any one is refused (a rebinding name may answer both kinds),
    BadURL when the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise BadURL(f"The host {host} could not be resolved.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses or not all(map(is_public, addresses)):
        raise NotPublic(f"This server only allows public base URLs; {host} resolves to a loopback, "
                        "private or link-local address.")
    return addresses
