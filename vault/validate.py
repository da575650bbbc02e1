"""Reading JSON bodies: one precise 400 per mistake, in the error shape of DESIGN §3."""
from flask import request

from .errors import BadRequest


class FieldError(BadRequest):
    """A bad value for one field; a page shows it next to that field, the API as any 400."""

    def __init__(self, field, message, code="invalid_request", status=400):
        super().__init__(message, code, status)
        self.field = field


def json_body(allowed=None):
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise not_an_object(body)
    if allowed is not None:
        refuse_unknown(body, allowed)
    return body


def refuse_unknown(body, allowed):
    """A 400 naming the first field of `body` (in sorted order) that is not in `allowed`."""
    unknown = set(body).difference(allowed)
    if unknown:
        raise BadRequest(f"Unknown field: {sorted(unknown)[0][:40]!r}.", "unknown_field")


def not_an_object(body):
    """The error for a body that is not a JSON object; None is what Flask reads from one that is
    not JSON at all (malformed, or sent without Content-Type: application/json)."""
    if body is None:
        return BadRequest("The request body is not valid JSON sent as application/json; send a "
                          "JSON object.", "invalid_json")
    return BadRequest("The request body must be a JSON object.", "invalid_json")


def required_str(body, name, max_len, strip=True):
    value = body.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' is required and must be a string.")
    value = value.strip() if strip else value
    if not value:
        raise BadRequest(f"'{name}' must not be empty.")
    return checked_str(name, value, max_len)


def checked_str(name, value, max_len):
    if len(value) > max_len:
        raise FieldError(name, f"'{name}' is longer than {max_len} characters.", "too_long")
    if not value.isprintable():
        raise FieldError(name, f"'{name}' contains control characters.")
    return value


def optional_int(body, name, low, high):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be a whole number from {low} to {high}.")
    return value
