"""Sign-in and registration forms."""
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from .. import validate


def plausible_email(form, field):
    if not validate.plausible_email((field.data or "").strip()):
        raise ValidationError(validate.EMAIL_HINT)


class LoginForm(FlaskForm):
    # autocomplete: password managers fill the right fields, and offer to save on register
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField("Sign in")


class RegisterForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254), plausible_email],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[
        DataRequired(), Length(min=10, max=1024, message="Use 10 to 1024 characters.")],
        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat password", validators=[
        DataRequired(), EqualTo("password", message="The two passwords differ.")],
        render_kw={"autocomplete": "new-password"})
    invitation = HiddenField(validators=[Length(max=100)])  # the code of an invitation's link
    submit = SubmitField("Create account")
