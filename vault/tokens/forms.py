"""The create-token form."""
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)],
                       render_kw={"placeholder": "laptop, CI, notebook…"})
    expires_in_days = IntegerField("Expires after (days)", validators=[Optional(), NumberRange(1, 3650)],
                                   render_kw={"placeholder": "never"})
    submit = SubmitField("Create token")
