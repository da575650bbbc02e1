"""The forms of the team pages. They only carry the fields: every rule on a value is the
service's (vault/teams/service.py, vault/models/service.py), whose field errors the views put
next to the field they name."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectChoice, SelectField, StringField

from .. import providers
from .service import ROLES

NO_SPELLING = {"spellcheck": "false", "autocapitalize": "off", "autocomplete": "off"}


class TeamForm(FlaskForm):
    name = StringField("Team name", render_kw={"autocomplete": "off"})


class MemberForm(FlaskForm):
    email = EmailField("Email", render_kw={"autocomplete": "off", "spellcheck": "false"})
    role = SelectField("Role", default="member", choices=[SelectChoice(r, r.capitalize()) for r in reversed(ROLES)],
                       validate_choice=False)  # the service names a wrong one, as /api/teams does


class TeamModelForm(FlaskForm):
    name = StringField("Name", render_kw={"placeholder": "team-gpt", **NO_SPELLING})
    provider = SelectField("Provider", default="openai", validate_choice=False,
                           choices=[SelectChoice(p.id, p.label) for p in providers.PROVIDERS.values()])
    model_id = StringField("Model ID", render_kw=NO_SPELLING)
    base_url = StringField("Base URL", render_kw=NO_SPELLING)
    api_key = PasswordField("API key", render_kw=NO_SPELLING)

    def values(self, team_id):
        """What models.create takes for a team's model; empty optional fields are left out, so
        the provider's base URL and the team's provider secret apply."""
        values = {"team_id": team_id, "name": self.name.data, "provider": self.provider.data,
                  "model_id": self.model_id.data}
        for field in (self.base_url, self.api_key):
            if field.data:
                values[field.name] = field.data
        return values
