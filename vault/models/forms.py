"""The add-model and edit-model forms."""
from flask_wtf import FlaskForm
from wtforms import (BooleanField, HiddenField, IntegerField, PasswordField, SelectChoice, SelectField,
                     StringField, SubmitField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from .. import providers
from ..urls import base_url_for

KEY_HINT = "(Optional — uses the provider secret if empty)"


class ModelForm(FlaskForm):
    key_hint = KEY_HINT
    mode = HiddenField(default="template")  # template: pick a popular model; manual: every field
    name = StringField("Name", validators=[DataRequired(), Length(max=100)],
                       render_kw={"placeholder": "my-gpt"})
    provider = SelectField("Provider", default="openai",
                           choices=[SelectChoice(p.id, p.label) for p in providers.PROVIDERS.values()])
    model_id = StringField("Model ID", validators=[DataRequired(), Length(max=200)])
    base_url = StringField("Base URL", validators=[Optional(), Length(max=500)])
    auth_type = SelectField("Auth type", choices=[SelectChoice(a) for a in providers.AUTH_TYPES],
                            validators=[Optional()], validate_choice=False)
    api_key = PasswordField("API key", validators=[Optional(), Length(max=4096)])
    supports_streaming = BooleanField("Supports streaming", default=True)
    supports_tools = BooleanField("Supports tools")
    submit = SubmitField("Save")

    @property
    def entry(self):
        return providers.get(self.provider.data) or providers.PROVIDERS["openai"]

    @property
    def default_base_url(self):
        """The provider's base URL after VAULT_PROVIDER_BASE_URLS ("" for custom, unless set)."""
        return base_url_for(self.entry.id)

    def fill_defaults(self):
        """Manual mode starts from the provider's base URL and auth type."""
        if self.mode.data not in ("template", "manual"):
            self.mode.data = "template"
        entry, default = self.entry, self.default_base_url
        if not self.base_url.data and default and "{" not in default:
            self.base_url.data = default
        self.auth_type.data = self.auth_type.data or entry.auth_type
        return self

    def values(self):
        """What the service takes. Template mode leaves base URL, auth type and the capability
        flags (it shows no checkboxes, whose absence would read as false) to the defaults."""
        values = {"name": self.name.data, "provider": self.provider.data, "model_id": self.model_id.data}
        if self.mode.data == "template" and "{" in self.default_base_url:
            values["base_url"] = self.base_url.data or None  # the template's {placeholder} filled in
        if self.mode.data == "manual":
            values.update(base_url=self.base_url.data or None, auth_type=self.auth_type.data or None,
                          supports_streaming=self.supports_streaming.data, supports_tools=self.supports_tools.data)
        if self.api_key.data:
            values["api_key"] = self.api_key.data
        return values


class EditForm(ModelForm):
    expected_version = IntegerField(widget=HiddenInput(), validators=[Optional(), NumberRange(1)])

    def hint_for(self, model):
        return "(Optional — leave empty to keep the current key)" if model.api_key_encrypted else KEY_HINT

    def values(self):
        values = super().values()
        values.update(base_url=self.base_url.data or None, auth_type=self.auth_type.data or None)
        if self.expected_version.data:
            values["expected_version"] = self.expected_version.data
        return values
