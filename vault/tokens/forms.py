"""The create-token form."""
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectChoice, SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

SCOPE_CHOICES = [SelectChoice("chat", "chat: /v1, chat, and reading models, providers and usage"),
                 SelectChoice("manage", "manage: also secrets, models and the pages")]


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)],
                       render_kw={"placeholder": "laptop, CI, notebook…"})
    expires_in_days = IntegerField("Expires after (days)", validators=[Optional(), NumberRange(1, 3650)],
                                   render_kw={"placeholder": "never"})
    scopes = SelectMultipleField("Scopes", choices=SCOPE_CHOICES, default=["chat"],
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    models = SelectMultipleField("Models", validators=[Optional()])  # choices: the user's model names
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField("Create token")

    def validate_scopes(self, field):  # not DataRequired: it would mark each checkbox required
        if not field.data:
            raise ValidationError("Choose at least one scope.")
