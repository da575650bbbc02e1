"""Settings from the environment (README, Settings), and the dev secrets generated into instance/."""
import base64
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULTS = {
    "DATABASE_URL": None,  # filled in with sqlite:///<instance>/vault.db
    "VAULT_MASTER_KEYS": None,
    "SECRET_KEY": None,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_LOGIN": "5 per minute",
    "RATELIMIT_REGISTER": "20 per hour",
    "VAULT_TRUSTED_PROXIES": "",  # proxies whose X-Forwarded-For names the client (vault/ratelimit.py)
    "VAULT_BASE_URL_POLICY": "any",
    "VAULT_UPSTREAM_TIMEOUT": 60.0,
    "VAULT_UPSTREAM_MAX_BYTES": 16 * 1024 * 1024,
    "VAULT_STREAM_MAX_SECONDS": 900.0,
    "VAULT_PROVIDER_BASE_URLS": "",
    "SESSION_COOKIE_SECURE": False,
    "MAX_CONTENT_LENGTH": 512 * 1024,
    "VAULT_DB_POOL_SIZE": 16,
    "VAULT_SIGNUP": "open",  # who may register (vault/auth/signup.py)
}
ENV_TYPES = {"VAULT_UPSTREAM_TIMEOUT": float, "VAULT_UPSTREAM_MAX_BYTES": int,
             "VAULT_STREAM_MAX_SECONDS": float, "MAX_CONTENT_LENGTH": int, "VAULT_DB_POOL_SIZE": int,
             "SESSION_COOKIE_SECURE": lambda v: v.lower() in ("1", "true", "yes", "on")}
ENV_NAMES = {"MAX_CONTENT_LENGTH": "VAULT_MAX_BODY_BYTES"}
CHOICES = {"VAULT_SIGNUP": ("open", "invite", "closed"), "VAULT_BASE_URL_POLICY": ("any", "public")}


def load(app, overrides):
    """Defaults, then the environment, then the caller's overrides; dev secrets last."""
    cfg = app.config
    cfg.update(DEFAULTS)
    for name in DEFAULTS:
        raw = os.environ.get(ENV_NAMES.get(name, name))
        if raw not in (None, ""):
            cfg[name] = ENV_TYPES.get(name, str)(raw)
    cfg.update(overrides or {})
    cfg.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_CHECK_DEFAULT=False,  # one before_request decides: Bearer skips, the rest is checked
        WTF_CSRF_TIME_LIMIT=None,      # the token lives as long as the session
        RATELIMIT_HEADERS_ENABLED=True,
    )
    if not cfg["DATABASE_URL"]:
        cfg["DATABASE_URL"] = f"sqlite:///{_instance(app) / 'vault.db'}"
    if not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = _generated(app, "secret_key", lambda: secrets.token_urlsafe(48), "SECRET_KEY")
    if not cfg["VAULT_MASTER_KEYS"]:
        cfg["VAULT_MASTER_KEYS"] = _generated(app, "master.key", new_master_key, "VAULT_MASTER_KEYS")
    if os.path.isdir(app.instance_path):
        private(app.instance_path, 0o700)


def check_choices(cfg):
    """A setting with a fixed set of values holds one of them; a ValueError names it otherwise."""
    for name, allowed in CHOICES.items():
        if cfg[name] not in allowed:
            raise ValueError(f"{name}: {str(cfg[name])[:60]!r} is not one of {', '.join(allowed)}")


def new_master_key():
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def private(path, mode):
    """`path` readable by its owner only (0700 or 0600): an existing one made so, said in the log."""
    current = stat.S_IMODE(os.stat(path).st_mode)
    if not current & ~mode:
        return
    try:
        os.chmod(path, mode)
    except OSError as exc:  # another user's: say so, and let the owner fix it
        log.warning("%s is open to other users (mode %03o) and could not be changed (%s)",
                    path, current, type(exc).__name__)
        return
    log.warning("%s was open to other users (mode %03o): now %03o", path, current, mode)


def _instance(app):
    path = Path(app.instance_path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _generated(app, filename, make, variable):
    """Read or create a 0600 file in instance/: fine for one developer, wrong for production.
    Written aside and linked into place, so workers starting together all read the same value."""
    path = _instance(app) / filename
    if not path.exists():
        draft = path.with_name(f".{filename}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:  # another worker's came first: theirs is the one
            pass
        finally:
            os.unlink(draft)
    log.warning("%s is not set: using the development value in %s. "
                "Production must set %s (and back it up).", variable, path, variable)
    return path.read_text().strip()
