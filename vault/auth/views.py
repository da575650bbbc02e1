"""/register, /login and /logout."""
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from .. import audit
from ..ratelimit import guarded, password_refused, refused
from .forms import LoginForm, RegisterForm
from .users import EmailTaken, check_password, close_session, create_user, open_session

bp = Blueprint("auth", __name__)


@bp.route("/register", methods=["GET", "POST"])
@guarded("RATELIMIT_REGISTER", counts=refused)
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.email.data, form.password.data)
        except EmailTaken:
            form.email.errors.append("An account with this email already exists; sign in instead.")
        else:
            _sign_in(user)
            flash("Welcome! Add your first provider key below.", "success")
            return redirect(url_for("secrets.index"))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
@guarded("RATELIMIT_LOGIN", counts=password_refused)
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
    session["sid"] = open_session(user, request.user_agent.string)
    login_user(user)
    audit.record(user, "user.login", f"user:{user.id}")


def _safe_next(target):
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("secrets.index")
