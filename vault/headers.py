"""Headers every answer carries, from Flask's after_request and from the chat lane alike."""

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
       "frame-ancestors 'none'")
SECURITY = (("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin"))


def secure(response, cacheable=False):
    headers = response.headers
    for name, value in SECURITY:
        headers.setdefault(name, value)
    if not cacheable:  # pages and answers may show account data: never cache
        headers["Cache-Control"] = "no-store"
    return response
