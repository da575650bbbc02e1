"""Command line (README, Command line): `flask --app app <command> --help`."""
import click
from flask.cli import with_appcontext

from . import audit, crypto, db
from .db import User, database
from .settings import new_master_key
from .tokens.service import SCOPES


@click.command("init-db", help="Create the tables and run pending migrations (safe to repeat).")
@with_appcontext
def init_db():
    with database.connection_context():
        version = db.migrate()
    click.echo(f"Database ready (schema version {version}).")


@click.command("create-user", help="Create an account, whatever VAULT_SIGNUP says (the first one is the "
               "instance's admin). The password is asked for twice (piped: two lines).")
@click.argument("email")
@click.password_option(prompt="Password", confirmation_prompt=True)
@with_appcontext
def create_user(email, password):
    from .auth.users import EmailTaken, create_user as create
    if len(password) < 10:
        raise click.ClickException("Use a password of at least 10 characters.")
    with database.connection_context():
        try:
            user = create(email, password)
        except EmailTaken:
            raise click.ClickException(f"An account for {email.lower()} already exists.") from None
    click.echo(f"Created user {user.email} (id {user.id}{', the instance admin' if user.is_admin else ''}).")


@click.command("create-token", help="Create an API token for EMAIL and print it (shown only once).")
@click.argument("email")
@click.option("--name", default="cli", show_default=True, help="A label to recognise the token by.")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), help="Expire after this many days.")
@click.option("--scope", "scopes", multiple=True, default=["chat"], show_default=True,
              type=click.Choice(list(SCOPES)),
              help="What the token may do; repeat for both. chat: /v1, POST /api/chat and reading "
                   "models, providers and usage; manage: also every other /api route and the pages.")
@click.option("--model", "models", multiple=True, metavar="NAME",
              help="A model (by name) the token may chat with; repeat for several. None: every model.")
@with_appcontext
def create_token(email, name, expires_in_days, scopes, models):
    from .errors import VaultError
    from .tokens import service
    with database.connection_context():
        user = User.get_or_none(User.email == email.strip().lower())
        if user is None:
            raise click.ClickException(f"No account for {email}.")
        try:
            _, token = service.issue(user, name, expires_in_days, list(scopes), list(models) or None)
        except VaultError as exc:  # a bad name, or a --model that is none of the user's models
            raise click.ClickException(exc.message) from None
    click.echo(token)


@click.command("generate-master-key", help="Print a new master key for VAULT_MASTER_KEYS.")
@with_appcontext
def generate_master_key():
    click.echo(new_master_key())


@click.command("rotate-master-key",
               help="Re-encrypt every stored key under the first key of VAULT_MASTER_KEYS, all or nothing.")
@with_appcontext
def rotate_master_key():
    from .rotation import rotate_all
    with database.connection_context():
        try:
            moved, total = rotate_all(crypto.keyring())
        except crypto.DecryptError as exc:
            raise click.ClickException(f"{exc}; nothing was changed.") from None
        audit.record(None, "master_key.rotate", f"values:{moved}")
    click.echo(f"Re-encrypted {moved} of {total} stored values under the first master key.")


@click.command("import-models", help="Load shared catalog models (no owner, no key) from a JSON or TOML "
               "file: a list of {name, provider, model_id, base_url?, auth_type?}, or [[models]] tables. "
               "Models are matched by name, so running it again changes nothing.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_models(file):
    from .models import catalog
    with database.connection_context():
        try:
            created, updated, unchanged = catalog.load(catalog.read(file))
        except catalog.CatalogError as exc:
            raise click.ClickException(f"{exc}; nothing was imported.") from None
    click.echo(f"Shared models: {created} created, {updated} updated, {unchanged} unchanged.")


COMMANDS = [init_db, create_user, create_token, generate_master_key, rotate_master_key, import_models]


def register(app):
    for command in COMMANDS:
        app.cli.add_command(command)
