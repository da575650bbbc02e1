"""The account page's forms: change the password, delete the account."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField("New password", validators=[
        DataRequired(), Length(min=10, max=1024, message="Use 10 to 1024 characters.")],
        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat new password", validators=[
        DataRequired(), EqualTo("new_password", message="The two passwords differ.")],
        render_kw={"autocomplete": "new-password"})
    # Ticked unless the person unticks it; the view reads it through account.keeps_tokens().
    revoke_tokens = BooleanField("Also revoke all my API tokens", default=True)


class DeleteAccountForm(FlaskForm):
    # Own field names, so their ids differ from the password form's on the same page.
    confirm_email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                               render_kw={"autocomplete": "off"})
    confirm_password = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})
