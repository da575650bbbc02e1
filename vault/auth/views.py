"""/register, /login and /logout."""
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from .. import audit
from ..ratelimit import attempted, client_address, guarded, nobody, password_refused, posted_email
from . import signup
from .forms import LoginForm, RegisterForm
from .users import EmailTaken, check_password, close_session, create_user, open_session

bp = Blueprint("auth", __name__)
REGISTERED = ("Your account is ready: sign in with it. (If this email already had an account, no "
              "second one was made: sign in with that account's password.)")


@bp.route("/register", methods=["GET", "POST"])
@guarded("RATELIMIT_REGISTER", counts=attempted, account=nobody)  # successful ones too
def register():
    policy = current_app.config["VAULT_SIGNUP"]
    barrier = signup.barrier(policy)
    if barrier == "closed" and request.method == "POST":
        raise signup.SignupRefused(barrier)  # the page offers no form; create_user's transaction decides
    form = RegisterForm()
    if not form.is_submitted():
        form.invitation.data = request.args.get("invitation", "")[:100]
    if not form.validate_on_submit():
        return render_template("auth/register.html", form=form, barrier=barrier,
                               notice=signup.REFUSALS.get(barrier)), 422 if form.errors else 200
    try:
        create_user(form.email.data, form.password.data, policy, form.invitation.data or "")  # hashes first
    except EmailTaken:
        pass
    # The same answer either way, signed in in neither case: a new account signed in at once
    # would tell whoever registers an address whether it was taken. The sign-in form is filled
    # with the email, carried in the session rather than the URL (and its access log).
    session["registered_email"] = form.email.data.strip().lower()
    flash(REGISTERED, "info")
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@guarded("RATELIMIT_LOGIN", counts=password_refused, account=posted_email)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = check_password(form.email.data, form.password.data)
        if user is not None:
            _sign_in(user)
            return redirect(_safe_next(request.args.get("next")))
        audit.record(None, "user.login", "login", outcome="refused")
        form.password.errors.append("Email or password is wrong.")
        return render_template("auth/login.html", form=form), 401
    if not form.is_submitted():
        form.email.data = session.pop("registered_email", None)
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:  # loads the session row and sets g.session_id
        close_session(g.get("session_id"))
        audit.record(current_user, "user.logout", "session")
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _sign_in(user):
    session.clear()  # a fresh cookie: no fixation
    session["sid"] = open_session(user, request.user_agent.string, client_address())
    login_user(user)
    audit.record(user, "user.login", f"user:{user.id}")


def _safe_next(target):
    """A path on this site, else the default page. Browsers drop tabs and newlines from a URL
    and read a backslash as a slash: "/%09/evil.example" would take them to evil.example."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or any(c == "\\" or c.isspace() or not c.isprintable() for c in target)):
        return url_for("secrets.index")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("secrets.index")
