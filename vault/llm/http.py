"""Pooled HTTP to providers on urllib3, the pool requests itself runs on: one keep-alive pool per
host, auth headers, connect and read timeouts, and every failure turned into our UpstreamError.
Under VAULT_BASE_URL_POLICY=public each request resolves its host once and connects to an
address vetted by vault/urls.py's rule, so a name re-resolving to a private address is refused."""
# Why not a requests.Session: even with trust_env=False it adds ~0.25 ms a call here (request
# preparation, hooks, cookies; ~0.3 ms more with environment lookups), and iter_content/iter_lines
# buffer events. urllib3's read1() returns whatever bytes have arrived, chunked or close-delimited.
# TLS uses requests' CA bundle; proxy variables are ignored as with trust_env=False (gateways go in
# VAULT_PROVIDER_BASE_URLS). No threads of our own, so gevent's monkey-patching covers it all.
import datetime as dt
import email.utils
import functools
import json
import logging
import threading
import time
from collections import OrderedDict, namedtuple
from urllib.parse import urlsplit

import urllib3
from requests import certs
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url
from urllib3.exceptions import (HTTPError, NewConnectionError, ProtocolError, SSLError,
                                TimeoutError as Urllib3Timeout)

from ..errors import VaultError
from ..urls import BadURL, NotPublic, public_addresses

log = logging.getLogger(__name__)

AUTH_HEADERS = {"bearer": "authorization", "x-api-key": "x-api-key", "api-key": "api-key"}
DEFAULT_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0
DRAIN_TIMEOUT = 2.0
POOL_SIZE = 256              # idle keep-alive connections kept per host (streams hold one each)
HOSTS = 64                   # hosts with a pool; the least recently used beyond this is closed
MAX_ERROR_BODY = 64 * 1024   # read (and drop) at most this much of an error answer, never inflated
MAX_BYTES = 16 * 1024 * 1024  # VAULT_UPSTREAM_MAX_BYTES: a whole answer, or one event, inflated
STREAM_SECONDS = 900.0       # VAULT_STREAM_MAX_SECONDS: how long one stream may run
_pools = None                # created on first use, after gevent (if any) has patched threading


class UpstreamError(VaultError):
    code, status = "upstream_error", 502

    def __init__(self, message=None, code=None, status=None, upstream_status=None, headers=()):
        super().__init__(message, code, status)
        self.upstream_status = upstream_status  # the provider's HTTP status, when it answered
        self.headers = headers  # for our answer: a 429's Retry-After


class Pools:
    """One pool of keep-alive connections per (scheme, host, port), or per (scheme, host, port,
    address) when pinned to a vetted address; thread-safe, for at most `size` of them: beyond that
    the least recently used pool is closed. Ours rather than a PoolManager's: its per-call URL
    parsing and pool-key building cost ~20 µs a request."""

    def __init__(self, size):
        self.size = size
        self.lock = threading.Lock()
        self.by_host = OrderedDict()

    def get(self, scheme, host, port, address=None):
        key = (scheme, host, port, address)
        with self.lock:  # one new pool per host, however many requests race here
            pool = self.by_host.get(key)
            if pool is not None:
                self.by_host.move_to_end(key)
                return pool
            pool = self.by_host[key] = _new_pool(scheme, host, port, address)
            dropped = self.by_host.popitem(last=False)[1] if len(self.by_host) > self.size else None
        if dropped is not None:
            dropped.close()  # outside the lock: its idle connections close one by one
        return pool


def pools():
    global _pools
    if _pools is None:  # two threads racing here make two; one is simply dropped
        _pools = Pools(HOSTS)
    return _pools


def pool_for(scheme, host, port):
    return pools().get(scheme, host, port)


def _new_pool(scheme, host, port, address=None):
    """A pool for host, or one whose connections all go to `address` (urllib3's documented way
    to pin an address: TLS still sends and verifies the host's name; the Host header is ours)."""
    if address is not None:
        name = host.strip("[]").rstrip(".")
        if scheme == "https":
            return HTTPSConnectionPool(address, port, maxsize=POOL_SIZE, block=False, retries=False,
                                       ca_certs=certs.where(), server_hostname=name, assert_hostname=name)
        return HTTPConnectionPool(address, port, maxsize=POOL_SIZE, block=False, retries=False)
    if scheme == "https":
        return HTTPSConnectionPool(host, port, maxsize=POOL_SIZE, block=False, retries=False,
                                   ca_certs=certs.where())
    return HTTPConnectionPool(host, port, maxsize=POOL_SIZE, block=False, retries=False)


Settings = namedtuple("Settings", "timeout policy max_bytes max_seconds")


def settings(timeout=None):
    """(read timeout, VAULT_BASE_URL_POLICY, VAULT_UPSTREAM_MAX_BYTES, VAULT_STREAM_MAX_SECONDS)
    of the running app, read once where a request is made: a stream runs after the app context
    has gone. Without an app: (60 s, "any", 16 MiB, 900 s)."""
    try:
        from flask import current_app
        config = current_app.config
    except RuntimeError:  # a script, or an adapter made outside any app: the defaults apply
        config = {}
    read = float(timeout if timeout is not None else config.get("VAULT_UPSTREAM_TIMEOUT") or DEFAULT_TIMEOUT)
    return Settings(read, config.get("VAULT_BASE_URL_POLICY") or "any",
                    int(config.get("VAULT_UPSTREAM_MAX_BYTES") or MAX_BYTES),
                    float(config.get("VAULT_STREAM_MAX_SECONDS") or STREAM_SECONDS))


def auth_headers(target):
    """The only place a key is revealed: straight into a request header, never a URL."""
    headers = {"accept": "application/json", "content-type": "application/json"}
    if target.wire == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
    if target.key is None or target.auth_type == "none":
        return headers
    name = AUTH_HEADERS.get(target.auth_type)
    if name is None:
        raise UpstreamError(f"The auth type of this {target.label} model is not one we know.")
    value = target.key.reveal()
    headers[name] = f"Bearer {value}" if target.auth_type == "bearer" else value
    return headers


@functools.lru_cache(maxsize=1024)
def endpoint(base_url, path):
    """(scheme, host, port, request target) of base + path, keeping a query string the base URL
    carries (Azure's api-version). ValueError for anything but an http(s) URL with a host."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0:
        raise ValueError("not an http(s) URL")
    full = parts.path.rstrip("/") + path
    host = parts.netloc.rpartition("@")[2]  # user:password@ in a base URL is never sent on
    url = parse_url(f"{parts.scheme}://{host}{full}" + (f"?{parts.query}" if parts.query else ""))
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80), url.request_uri


@functools.lru_cache(maxsize=64)
def timeout_for(read):
    return urllib3.Timeout(connect=min(CONNECT_TIMEOUT, read), read=read)


def host_port(base_url):
    """What a message may show of a base URL: host and port, no credentials, path or query."""
    parts = urlsplit(base_url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = "?"
    return f"{parts.hostname}:{port}"


def request(target, method, path, payload=None, timeout=None, stream=False, policy="any"):
    """Send one request; answer the urllib3 response (2xx only) or raise UpstreamError.
    `policy` is VAULT_BASE_URL_POLICY as settings() read it when the request was made.
    The body is left unread and undecoded, streamed or not: reading.py reads it within the limits."""
    read = float(timeout) if timeout is not None else settings().timeout
    try:
        scheme, host, port, url = endpoint(target.base_url, path)
    except ValueError:  # urlsplit's own errors included (a bad port, a broken IPv6 address)
        raise UpstreamError(f"The base URL for {target.label} is not a valid http(s) URL.",
                            "upstream_unreachable", 502) from None
    body = None if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    try:
        if policy == "public":
            response = _pinned(target, scheme, host, port, method, url, body, read, stream)
        else:
            response = pool_for(scheme, host, port).urlopen(
                method, url, body=body, headers=auth_headers(target), redirect=False, retries=False,
                timeout=timeout_for(read), preload_content=False, decode_content=False)
    except HTTPError as exc:
        raise transport_error(target, exc, read) from None
    if response.status >= 300:
        raise status_error(target, response)
    return response


def _pinned(target, scheme, host, port, method, url, body, read, stream):
    """The request sent to an address the host resolved to just now, every one of them vetted
    first: nothing re-resolves between the check and the connection (no DNS rebinding)."""
    addresses, known = vetted_addresses(target, host, port), pools()
    headers = auth_headers(target)
    headers["host"] = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
    # Addresses with a pool first: round-robin DNS then keeps reusing warm connections.
    addresses.sort(key=lambda address: (scheme, host, port, address) not in known.by_host)
    for address in addresses:
        try:
            return known.get(scheme, host, port, address).urlopen(
                method, url, body=body, headers=headers, redirect=False, retries=False,
                timeout=timeout_for(read), preload_content=False, decode_content=False)
        except NewConnectionError:  # refused or unreachable (not a timeout): nothing was sent
            if address == addresses[-1]:
                raise


def vetted_addresses(target, host, port):
    """The host's addresses, resolved once, or base_url_not_public before any connection."""
    try:
        return public_addresses(host.strip("[]"), port)
    except NotPublic as exc:
        log.warning("upstream %s refused: its host is not public", target.provider)
        raise UpstreamError(str(exc), "base_url_not_public", 403) from None
    except BadURL:  # the name does not resolve: what urllib3 would have said
        log.warning("upstream %s failed: its host did not resolve", target.provider)
        raise UpstreamError(f"Could not connect to {target.label} at {host_port(target.base_url)}.",
                            "upstream_unreachable", 502) from None


def status_error(target, response):
    """A non-2xx answer as our error; the body is drained and dropped, never shown or logged."""
    status = response.status
    _discard(response)
    log.warning("upstream %s answered %s", target.provider, status)
    label = target.label
    if status in (401, 403):
        return UpstreamError(f"The key was refused by {label} ({status}); {_whose_key(target)}.",
                             "upstream_auth", 502, status)
    if status == 429:
        wait = retry_after(response.headers.get("retry-after"))
        return UpstreamError(f"{label} is rate-limiting requests (429); try again "
                             + (f"in {wait} seconds." if wait else "shortly."),
                             "upstream_rate_limited", 429, status, [("Retry-After", wait)] if wait else ())
    if status >= 500:
        return UpstreamError(f"{label} failed to answer ({status}); try again later.",
                             "upstream_error", 502, status)
    if status == 404:
        return UpstreamError(f"{label} answered 404 not found; check the model ID and base URL.",
                             "upstream_error", 502, status)
    if status < 400:
        return UpstreamError(f"{label} answered with a redirect ({status}); check the base URL.",
                             "upstream_error", 502, status)
    return UpstreamError(f"{label} rejected the request ({status} {_reason(status)}).",
                         "upstream_error", 502, status)


def retry_after(value):
    """A provider's Retry-After as whole seconds (text), passed on only when it is one: a number of
    seconds up to a day, or an HTTP date; anything else is dropped, never echoed."""
    value = (value or "").strip()
    if value.isascii() and value.isdecimal():
        return str(min(int(value), 86_400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return str(max(0, min(86_400, int((when - dt.datetime.now(dt.timezone.utc)).total_seconds()))))


def transport_error(target, exc, timeout):
    """A urllib3 failure as our error. Only the exception's class is logged: its text may hold a URL."""
    log.warning("upstream %s failed: %s", target.provider, type(exc).__name__)
    label, where = target.label, host_port(target.base_url)
    if isinstance(exc, NewConnectionError):  # refused, DNS; a subclass of the timeout below
        return UpstreamError(f"Could not connect to {label} at {where}.", "upstream_unreachable", 502)
    if isinstance(exc, Urllib3Timeout):
        return UpstreamError(f"{label} did not answer within {timeout:g} seconds.", "upstream_timeout", 504)
    if isinstance(exc, SSLError):
        return UpstreamError(f"The TLS handshake with {label} at {where} failed.",
                             "upstream_unreachable", 502)
    if isinstance(exc, ProtocolError):
        return UpstreamError(f"{label} closed the connection before answering.", "upstream_error", 502)
    return UpstreamError(f"The request to {label} failed.", "upstream_error", 502)


def bad_response(target, status=None):
    log.warning("upstream %s sent an unreadable answer", target.provider)
    return UpstreamError(f"{target.label} sent an answer we could not read.", "upstream_bad_response",
                         502, status)


def stream_cut(target):
    log.warning("upstream %s closed the stream early", target.provider)
    return UpstreamError("The provider closed the stream before it finished.", "upstream_error", 502)


def too_large(target, limit, what="an answer"):
    log.warning("upstream %s sent %s over the size limit", target.provider, what)
    return UpstreamError(f"{target.label} sent {what} larger than the vault's limit of {limit} bytes.",
                         "upstream_too_large", 502)


def too_long(target, seconds, stream=True):
    what = "stream" if stream else "answer"
    log.warning("upstream %s %s ran past the time limit", target.provider, what)
    return UpstreamError(f"The {what} from {target.label} ran past the vault's limit of {seconds:g} seconds.",
                         "upstream_timeout", 504)


def decode(target, data, status=200):
    """One streamed event's (or a whole answer's) JSON object, or upstream_bad_response."""
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):  # "[[[[…" nested past Python's limit is no answer either
        raise bad_response(target, status) from None
    if not isinstance(event, dict):
        raise bad_response(target, status)
    return event


def count(value):
    """A token count from a provider's answer: a whole number, 0 when absent or unreadable
    (a provider's odd usage field must not fail an answer that is otherwise fine)."""
    try:
        return max(int(value or 0), 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def finish(response, complete):
    """After an answer: a finished connection goes back to the pool, an unfinished one is closed
    (a client that left mid-stream must not leave the provider talking to a pooled socket)."""
    if complete:
        connection = response.connection
        if connection is not None and connection.sock is not None:
            # Only the end of the body is due; a provider that keeps it open costs 2 s, not a
            # full read timeout. The next request on this connection sets its own timeout.
            connection.sock.settimeout(DRAIN_TIMEOUT)
        complete = _drained(response)
    if not complete:
        response.close()
    response.release_conn()


def _drained(response):
    """Reads what is left of a body, raw, for at most MAX_ERROR_BODY bytes and DRAIN_TIMEOUT
    seconds: True when it ended. (urllib3's drain_conn reads for as long as a provider sends.)"""
    left, ends = MAX_ERROR_BODY, time.monotonic() + DRAIN_TIMEOUT
    try:
        while left > 0 and time.monotonic() < ends:
            data = response.read1(min(left, 16384), decode_content=False)
            if not data:
                return True
            left -= len(data)
    except (HTTPError, OSError):
        pass
    return False


def elapsed_ms(started):
    return round((time.perf_counter() - started) * 1000, 1)


def _discard(response):
    remaining = response.length_remaining
    try:
        if remaining is not None and remaining <= MAX_ERROR_BODY:
            # A small body: read raw (never inflated, whatever its Content-Encoding) and dropped,
            # so the connection stays usable.
            response.drain_conn()
        else:
            response.close()
    except HTTPError:
        response.close()
    response.release_conn()


def _whose_key(target):
    if target.key_source == "model":
        return "it is the model's own key"
    if target.key_source == "provider_secret":
        return f"it is the {target.provider} provider secret"
    return "no key was sent"


def _reason(status):
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "client error"
