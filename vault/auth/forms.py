"""Sign-in and registration forms."""
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError


def plausible_email(form, field):
    value = (field.data or "").strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value):
        raise ValidationError("Enter an email address such as ada@example.com.")


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
