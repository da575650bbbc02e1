"""Headers every answer carries, from Flask's after_request and from the /v1 app alike."""

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
       "frame-ancestors 'none'")
SECURITY = (("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin"))


NO_STORE = ("Cache-Control", "no-store")


def secure(response, cacheable=False):
    """Adds those of SECURITY the response does not set itself. One pass: Werkzeug's setdefault
    scans the headers (and raises a KeyError inside) per name, ~12 µs for four."""
    headers = response.headers
    present = {name.lower() for name, _ in headers}
    headers.extend([(name, value) for name, value in SECURITY if name.lower() not in present])
    if not cacheable:  # pages and answers may show account data: never cache
        headers[NO_STORE[0]] = NO_STORE[1]
    return response
