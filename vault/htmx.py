"""Small helpers for answering htmx requests."""
from flask import make_response, render_template, request


def is_htmx():
    return request.headers.get("HX-Request") == "true"


def page_or_fragment(page, fragment, status=200, **ctx):
    """One URL, two renderings: the fragment for htmx, the whole page otherwise."""
    response = make_response(render_template(fragment if is_htmx() else page, **ctx), status)
    response.vary.add("HX-Request")
    return response


def fragment(template, status=200, trigger=None, **ctx):
    response = make_response(render_template(template, **ctx), status)
    if trigger:
        response.headers["HX-Trigger"] = trigger
    return response


def replacing(target, template, status=200, **ctx):
    """An answer that replaces `target`, the whole list, instead of the row that asked: one round
    trip, where a row's answer and an event to fetch the list again took two."""
    response = make_response(render_template(template, **ctx), status)
    response.headers.update({"HX-Retarget": target, "HX-Reswap": "outerHTML"})
    return response


def removed(trigger):
    """The answer to a row's delete: empty, so htmx swaps the row out (200: a 204 is not
    swapped), and an event that refreshes whatever counts the rows."""
    return "", 200, {"HX-Trigger": trigger}


def offer_to_replace(form, conflict, what):
    """False, with an edit form set to replace the version another tab or script saved (its hidden
    expected_version now names that one) and a line that says so."""
    form.expected_version.data, form.expected_version.raw_data = conflict.current, [str(conflict.current)]
    form.form_errors.append(f"This {what} changed in another tab or through the API (it is now version "
                            f"{conflict.current}). Cancel to see the saved version, or save again to "
                            "replace it.")
    return False
