"""The inline add/rotate form of a provider row. Keys are checked by the service's own rules."""
import datetime as dt

from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, PasswordField, StringField, SubmitField
from wtforms.validators import NumberRange, Optional, ValidationError
from wtforms.widgets import HiddenInput

from .. import hosts
from ..db import utcnow
from ..errors import BadRequest
from ..filters import last_day
from ..urls import base_url_for
from ..validate import clean_key


class SecretForm(FlaskForm):
    # A PasswordField never renders its value, so a key is not echoed back, not even on a 422.
    api_key = PasswordField("API key", render_kw={"autocomplete": "off", "spellcheck": "false",
                                                  "autocapitalize": "off"})
    expires_at = DateField("Expires on", validators=[Optional()])
    allowed_hosts = StringField("Allowed hosts", render_kw={"spellcheck": "false", "autocapitalize": "off"})
    # adding a key bound to hosts beyond the provider's own is choosing where it may go
    password = PasswordField("Your password", render_kw={"autocomplete": "current-password"})
    expected_version = IntegerField(widget=HiddenInput(), validators=[Optional(), NumberRange(1)])
    # minutes east of UTC, set by app.js: a date means the end of that day where the user is
    utc_offset = IntegerField(widget=HiddenInput(), validators=[Optional(), NumberRange(-14 * 60, 14 * 60)])
    submit = SubmitField("Save")

    def __init__(self, provider, secret=None, **kwargs):
        """`secret` set means rotating it: a blank key then keeps the key and changes the expiry.
        Adding one, the hosts it may go to start as the provider's default."""
        if secret is not None:
            kwargs.setdefault("data", {"expires_at": last_day(secret.expires_at),
                                       "expected_version": secret.version})
        else:
            kwargs.setdefault("data", {"allowed_hosts": " ".join(hosts.default_for(base_url_for(provider)) or ())})
        super().__init__(**kwargs)
        self.secret = secret
        for f in self:  # two rows may have their forms open at once: ids must stay unique
            f.id = f"{provider}-{f.name.replace('_', '-')}"

    def validate_api_key(self, field):
        if not field.data and self.secret is not None:
            return
        try:
            field.data = clean_key(field.data or "")
        except BadRequest as exc:
            raise ValidationError(exc.message) from None

    def validate_allowed_hosts(self, field):
        if self.secret is not None:
            return  # rotating keeps the hosts: changing them is its own form, with the password
        try:
            hosts.parse(field.data or "")  # the text stays, to show again; the service parses it
        except BadRequest as exc:  # shown next to the field, which needs no naming there
            raise ValidationError(exc.message.removeprefix("'allowed_hosts': ")) from None

    def validate_expires_at(self, field):
        unchanged = self.secret is not None and field.data == last_day(self.secret.expires_at)
        if field.data and not unchanged and self.expiry() <= utcnow():
            raise ValidationError("That day is over where you are: choose today or a later day.")

    def expiry(self):
        """The date as a naive UTC datetime: the end of that day in the user's time zone (UTC
        without one), so a key set to expire today still works until tonight."""
        day = self.expires_at.data
        if not day:
            return None
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) - dt.timedelta(minutes=self.utc_offset.data or 0)

    def changes(self):
        """Keyword arguments for service.update, or None when nothing would change."""
        current = self.secret.expires_at
        changes = {"api_key": self.api_key.data or None}
        if self.expires_at.data != last_day(current):
            changes["expires_at"] = self.expiry()  # a time set through the API survives a rotation
        return changes if len(changes) > 1 or changes["api_key"] else None


class HostsForm(FlaskForm):
    """Where the key may be sent: changed only with the account password."""
    allowed_hosts = StringField("Allowed hosts", render_kw={"spellcheck": "false", "autocapitalize": "off"})
    password = PasswordField("Your password", render_kw={"autocomplete": "current-password"})
    expected_version = IntegerField(widget=HiddenInput(), validators=[Optional(), NumberRange(1)])

    def __init__(self, provider, secret, **kwargs):
        kwargs.setdefault("data", {"allowed_hosts": secret.allowed_hosts, "expected_version": secret.version})
        super().__init__(**kwargs)
        self.secret = secret
        for f in self:
            f.id = f"{provider}-{f.name.replace('_', '-')}"

    def validate_allowed_hosts(self, field):
        try:
            hosts.parse(field.data or "")  # the text stays, to show again; the service parses it
        except BadRequest as exc:  # shown next to the field, which needs no naming there
            raise ValidationError(exc.message.removeprefix("'allowed_hosts': ")) from None
