"""Entry point for `flask --app app …` and `gunicorn app:app`."""
from vault import StartupError, create_app

try:
    app = create_app()
except StartupError as exc:  # a clear sentence instead of a traceback
    raise SystemExit(f"vault: refusing to start: {exc}") from None
