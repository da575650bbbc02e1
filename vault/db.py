"""The database: Peewee proxy, the records, scoped query helpers, schema migrations,
and one connection per request (pooled), closed in an idempotent teardown."""
import contextlib
import datetime as dt
import logging
import os
import re
import sqlite3
import time
import uuid
import weakref

import peewee as pw  # the prefix keeps Peewee's Model apart from LLMModel
from playhouse import db_url
from playhouse.migrate import SchemaMigrator
from playhouse.pool import PooledPostgresqlDatabase

from . import crypto
from .crypto import CHECK_AAD, CHECK_PLAINTEXT, MasterKeyError
from .errors import DecryptError, NotFound
from .settings import private

log = logging.getLogger(__name__)
database = pw.DatabaseProxy()


def utcnow():
    """Naive UTC, the same on SQLite and PostgreSQL; JSON adds the Z."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def iso(value):
    """A stored datetime as JSON and <time datetime> show it: ISO 8601 with a Z, or None."""
    return value.isoformat() + "Z" if value else None


def as_datetime(value):
    """A datetime from raw SQL: SQLite hands back text, PostgreSQL a datetime."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False

    @classmethod
    def owned_by(cls, user):
        return cls.select().where(cls.user == user)

    @classmethod
    def get_owned_or_404(cls, user, *where):
        """Another user's row looks exactly like a missing one."""
        row = cls.owned_by(user).where(*where).first()
        if row is None:
            raise NotFound()
        return row


def _sqlite():
    return isinstance(database.obj, pw.SqliteDatabase)


class UserIdField(pw.AutoField):
    """A user's id is in the associated data of their secrets, so it is never issued twice. SQLite
    hands a deleted row's id to the next row unless the key is AUTOINCREMENT; PostgreSQL's
    sequence never goes back."""

    def ddl(self, ctx):
        node = super().ddl(ctx)
        return pw.NodeList((node, pw.SQL("AUTOINCREMENT"))) if _sqlite() else node


class User(BaseModel):
    id = UserIdField()
    email = pw.CharField(max_length=254, unique=True)  # stored lower-case
    password_hash = pw.CharField(max_length=255)
    created_at = pw.DateTimeField(default=utcnow)
    is_admin = pw.BooleanField(default=False)  # the first account: it may register whatever the sign-up policy

    # Flask-Login's protocol; the session id lives in the cookie, the user id is only a hint.
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self):
        return str(self.id)


class Session(BaseModel):
    """Server side of a login. The cookie holds a random id; only its SHA-256 is stored here."""
    id = pw.CharField(primary_key=True, max_length=64)
    user = pw.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    created_at = pw.DateTimeField(default=utcnow)
    last_seen_at = pw.DateTimeField(default=utcnow)
    user_agent = pw.CharField(max_length=255, default="")
    address = pw.CharField(max_length=64, default="")  # where the sign-in came from, to tell sessions apart


class ApiToken(BaseModel):
    user = pw.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    name = pw.CharField(max_length=100)
    token_hash = pw.CharField(max_length=64, unique=True)
    prefix = pw.CharField(max_length=16)
    created_at = pw.DateTimeField(default=utcnow)
    last_used_at = pw.DateTimeField(null=True)
    revoked_at = pw.DateTimeField(null=True)
    expires_at = pw.DateTimeField(null=True)
    scopes = pw.CharField(max_length=64, default="chat")  # space-separated: chat, manage
    models = pw.TextField(null=True)  # a JSON list of model names it may use; null: every model

    @property
    def expired(self):
        return self.expires_at is not None and self.expires_at <= utcnow()


class Team(BaseModel):
    """People who share provider keys: owners manage them, members only use them."""
    name = pw.CharField(max_length=100, unique=True)
    created_at = pw.DateTimeField(default=utcnow)


class Membership(BaseModel):
    team = pw.ForeignKeyField(Team, backref="memberships", on_delete="CASCADE")
    user = pw.ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    role = pw.CharField(max_length=8)  # owner | member; a team keeps at least one owner
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("team", "user"), True),)


class Invitation(BaseModel):
    """An email a team owner asked to join, before it has an account. Whoever holds its code (the
    link the owner was shown once and passed on) may register that email, also under
    VAULT_SIGNUP=invite, and joins the team in the role given. The email alone admits nobody: the
    vault sends no mail, so knowing an invited address proves nothing."""
    team = pw.ForeignKeyField(Team, backref="invitations", on_delete="CASCADE")
    email = pw.CharField(max_length=254)  # stored lower-case, as User.email
    code_hash = pw.CharField(max_length=64, unique=True)  # SHA-256 of the code; the code is never stored
    role = pw.CharField(max_length=8)
    invited_by = pw.ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("team", "email"), True),)


class SecretFields(BaseModel):
    """What a stored provider key is, whoever owns it: a user (ProviderSecret) or a team
    (TeamSecret). Never a table of its own."""
    provider = pw.CharField(max_length=32)
    api_key_encrypted = pw.TextField()
    key_preview = pw.CharField(max_length=32)  # "sk-…9f2c", set at write time so lists never decrypt
    fingerprint = pw.CharField(max_length=16)
    allowed_hosts = pw.TextField(default="")  # space-separated host patterns (vault/hosts.py)
    version = pw.IntegerField(default=1)
    expires_at = pw.DateTimeField(null=True)
    last_used_at = pw.DateTimeField(null=True)
    last_checked_at = pw.DateTimeField(null=True)
    last_check_status = pw.CharField(max_length=32, null=True)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)


class ProviderSecret(SecretFields):
    user = pw.ForeignKeyField(User, backref="secrets", on_delete="CASCADE")

    class Meta:
        indexes = ((("user", "provider"), True),)

    @staticmethod
    def aad_for(user_id, provider):
        """What a secret's value is sealed to (AES-GCM associated data): copied into another
        user's or provider's row, it does not open."""
        return f"{user_id}|{provider}"

    @property
    def aad(self):
        return self.aad_for(self.user_id, self.provider)


class TeamSecret(SecretFields):
    """A team's key for one provider: its members' team models use it, nobody reads it."""
    team = pw.ForeignKeyField(Team, backref="secrets", on_delete="CASCADE")

    class Meta:
        table_name = "team_secret"
        indexes = ((("team", "provider"), True),)

    @staticmethod
    def aad_for(team_id, provider):
        """Sealed to the team and provider: copied into another team's row, or a user's, it does
        not open (a user's secret is sealed to "<user id>|<provider>")."""
        return f"team:{team_id}|{provider}"

    @property
    def aad(self):
        return self.aad_for(self.team_id, self.provider)


class LLMModel(BaseModel):
    id = pw.CharField(primary_key=True, max_length=36, default=lambda: str(uuid.uuid4()))
    user = pw.ForeignKeyField(User, backref="models", null=True, on_delete="CASCADE")
    team = pw.ForeignKeyField(Team, backref="models", null=True, on_delete="CASCADE")  # never with user
    name = pw.CharField(max_length=100)
    provider = pw.CharField(max_length=32)
    model_id = pw.CharField(max_length=200)
    base_url = pw.CharField(max_length=500)
    auth_type = pw.CharField(max_length=16)
    api_key_encrypted = pw.TextField(null=True)
    key_preview = pw.CharField(max_length=32, null=True)
    supports_streaming = pw.BooleanField(default=True)
    supports_tools = pw.BooleanField(default=False)
    version = pw.IntegerField(default=1)  # grows by one on every change, as a secret's does
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "llm_model"
        indexes = ((("user", "name"), True), (("team", "name"), True))

    @staticmethod
    def aad_for(user_id, model_id, team_id=None):
        """What a model's own key is sealed to: its owner (a user, or a team) and its id, so the
        value copied into another row, or the row moved to another owner, does not open. Shared
        catalog models (no owner) never hold a key."""
        return f"model:team:{team_id}|{model_id}" if team_id is not None else f"model:{user_id}|{model_id}"

    @property
    def aad(self):
        return self.aad_for(self.user_id, self.id, self.team_id)

    @classmethod
    def visible_to(cls, user):
        """Reads: the user's own models, their teams' models and the shared catalog."""
        teams = Membership.select(Membership.team).where(Membership.user == user)
        return cls.select().where((cls.user == user)
                                  | cls.user.is_null() & (cls.team.is_null() | cls.team.in_(teams)))


class UsageRecord(BaseModel):
    user = pw.ForeignKeyField(User, on_delete="CASCADE")
    model = pw.CharField(max_length=36)  # the model's id; history outlives a deleted model
    key_source = pw.CharField(max_length=16)
    provider = pw.CharField(max_length=32)
    day = pw.DateField()
    requests = pw.IntegerField(default=0)
    prompt_tokens = pw.BigIntegerField(default=0)
    completion_tokens = pw.BigIntegerField(default=0)
    errors = pw.IntegerField(default=0)

    class Meta:
        indexes = ((("user", "model", "key_source", "day"), True),)


class AuditEvent(BaseModel):
    """Who did what to which subject, and how it went. Never key material."""
    user = pw.ForeignKeyField(User, null=True, on_delete="CASCADE")
    action = pw.CharField(max_length=32)
    subject = pw.CharField(max_length=120)
    at = pw.DateTimeField(default=utcnow, index=True)
    outcome = pw.CharField(max_length=32, default="ok")
    ip = pw.CharField(max_length=64, null=True)
    version = pw.IntegerField(null=True)
    detail = pw.CharField(max_length=300, null=True)  # e.g. which key went to which host


class VaultMeta(BaseModel):
    """Small facts about the database itself: schema version, master-key check value."""
    key = pw.CharField(primary_key=True, max_length=64)
    value = pw.TextField()

    @classmethod
    def read(cls, key):
        row = cls.get_or_none(cls.key == key)
        return row.value if row else None

    @classmethod
    def write(cls, key, value):
        cls.insert(key=key, value=value).on_conflict(
            conflict_target=[cls.key], update={cls.value: value}).execute()


MASTER_KEY_CHECK = "master_key_check"  # the VaultMeta row holding the check value


def check_master_key(ring):
    """Prove the keyring opens this database's stored values before anything is written: a new
    database stores a check value under the first key, an existing one must open its own."""
    check = VaultMeta.read(MASTER_KEY_CHECK)
    if check is None:
        VaultMeta.write(MASTER_KEY_CHECK, ring.encrypt(CHECK_PLAINTEXT, CHECK_AAD))
    elif not ring.opens(check, CHECK_AAD):
        raise MasterKeyError(
            "none of the keys in VAULT_MASTER_KEYS opens this database's stored values; set "
            "VAULT_MASTER_KEYS to the key this database was written with (add new keys after it)")


MODELS = [User, Session, ApiToken, Team, Membership, Invitation, ProviderSecret, TeamSecret, LLMModel, UsageRecord,
          AuditEvent, VaultMeta]

# Each step takes a playhouse SchemaMigrator and brings the schema up by one version. Append
# only: a deployed database has run the earlier ones. A new database starts at the last version.
def _key_egress(migrator):
    """Version 1: where each key may travel, token scopes, and the audit's detail. Existing
    secrets may go to their provider's default host and the hosts of the models that rely on
    them (default_hosts), so nothing that worked stops; existing tokens keep both scopes."""
    from playhouse.migrate import migrate as run
    run(migrator.add_column("provider_secret", "allowed_hosts", pw.TextField(default="")),
        migrator.add_column("api_token", "scopes", pw.CharField(max_length=64, default="chat manage")),
        migrator.add_column("api_token", "models", pw.TextField(null=True)),
        migrator.add_column("audit_event", "detail", pw.CharField(max_length=300, null=True)))
    for secret in ProviderSecret.select():
        ProviderSecret.update(allowed_hosts=" ".join(default_hosts(secret))).where(
            ProviderSecret.id == secret.id).execute()


def default_hosts(secret):
    """The hosts a secret may reach before its owner says otherwise: its provider's default, and
    wherever the owner's models that rely on it already sent it (a proxy, a custom server), so
    that binding a stored secret stops nothing that worked."""
    from . import hosts, urls
    patterns = hosts.default_for(urls.base_url_for(secret.provider)) or []
    models = (LLMModel.owned_by(secret.user_id).select(LLMModel.base_url)
              .where(LLMModel.provider == secret.provider, LLMModel.api_key_encrypted.is_null()))
    used = {hosts.pattern_for(m.base_url) for m in models if not hosts.allows(patterns, m.base_url)}
    return patterns + sorted(used)


def _model_keys_bound_to_owner(migrator):
    """Version 2: a model's own key was sealed to the model's id alone; it is sealed again to
    its owner and id (LLMModel.aad_for). A value that opens neither way is left as it was."""
    ring = crypto.keyring()
    unreadable = 0
    # only the columns this version had: a later step adds more
    for model in (LLMModel.select(LLMModel.id, LLMModel.user, LLMModel.api_key_encrypted)
                  .where(LLMModel.api_key_encrypted.is_null(False))):
        try:
            key = ring.decrypt(model.api_key_encrypted, model.id)
        except DecryptError:
            unreadable += not ring.opens(model.api_key_encrypted, model.aad)
            continue
        LLMModel.update(api_key_encrypted=ring.encrypt(key.reveal(), model.aad)).where(
            LLMModel.id == model.id).execute()
    if unreadable:
        log.warning("%d model keys did not open and were left as they were", unreadable)


def _user_ids_never_reused(migrator):
    """Version 3, SQLite only: "user" rebuilt with AUTOINCREMENT, its sequence starting above
    every id issued so far (PostgreSQL's sequence never went back)."""
    if not _sqlite():
        return
    (table_sql,) = database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user'").fetchone()
    if "AUTOINCREMENT" in table_sql.upper():
        return
    _rebuild_user_table(table_sql)
    database.execute_sql("DELETE FROM sqlite_sequence WHERE name = 'user'")
    database.execute_sql("INSERT INTO sqlite_sequence (name, seq) VALUES ('user', ?)", (_highest_user_id(),))


def _rebuild_user_table(table_sql):
    """SQLite's documented way to change a table: create the new one, copy, drop, rename. With
    foreign keys on, the drop would delete every user's rows, so migrate() turns them off and
    this refuses to run without that; the check at the end proves no row lost its user."""
    if database.execute_sql("PRAGMA foreign_keys").fetchone()[0]:
        raise RuntimeError("rebuilding the user table needs foreign keys off: the drop would cascade")
    new_sql, found = re.subn(r'^CREATE TABLE (IF NOT EXISTS )?"user" (.*)("id" INTEGER NOT NULL PRIMARY KEY)',
                             r'CREATE TABLE "user_rebuilt" \2\3 AUTOINCREMENT', table_sql, flags=re.S)
    if not found:
        raise RuntimeError("the user table is not the one this application created; not rebuilding it")
    indexes = [row[0] for row in database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user' AND sql IS NOT NULL")]
    columns = ", ".join(f'"{column.name}"' for column in database.get_columns("user"))
    database.execute_sql(new_sql)
    database.execute_sql(f'INSERT INTO "user_rebuilt" ({columns}) SELECT {columns} FROM "user"')
    database.execute_sql('DROP TABLE "user"')
    database.execute_sql('ALTER TABLE "user_rebuilt" RENAME TO "user"')
    for index_sql in indexes:
        database.execute_sql(index_sql)
    if database.execute_sql("PRAGMA foreign_key_check").fetchone() is not None:
        raise RuntimeError("rows would lose their user in the rebuild; nothing was changed")


def _highest_user_id():
    """The highest id ever issued, as far as the database can tell: a deleted account's id is
    gone from "user", but its deletion left an anonymous audit line naming it."""
    deleted = (AuditEvent.select(AuditEvent.subject)
               .where(AuditEvent.action == "user.delete", AuditEvent.outcome == "ok",
                      AuditEvent.subject.startswith("user:")))
    ids = [int(row.subject[5:]) for row in deleted if row.subject[5:].isdecimal()]
    return max([*ids, User.select(pw.fn.MAX(User.id)).scalar() or 0])


def _model_versions(migrator):
    """Version 4: models carry a version, so two tabs editing one model cannot undo each other;
    sessions keep the address they signed in from, so the account page can tell them apart."""
    from playhouse.migrate import migrate as run
    columns = {("llm_model", "version"): pw.IntegerField(default=1),
               ("session", "address"): pw.CharField(max_length=64, default="")}
    run(*(migrator.add_column(table, name, field) for (table, name), field in columns.items()
          if name not in {c.name for c in database.get_columns(table)}))  # a re-run adds nothing twice


def _teams(migrator):
    """Version 5: teams, their members and secrets (create_tables made the tables), and the team a
    model may belong to instead of a user."""
    from playhouse.migrate import migrate as run
    if "team_id" not in {c.name for c in database.get_columns("llm_model")}:
        team = pw.ForeignKeyField(Team, null=True, on_delete="CASCADE", field=Team.id)
        run(migrator.add_column("llm_model", "team_id", team),
            migrator.add_index("llm_model", ("team_id", "name"), True))


def _sign_up_policy(migrator):
    """Version 6: invitations (create_tables made the table) and the instance's admin, which is
    the first account: on an older database, the oldest one."""
    from playhouse.migrate import migrate as run
    if "is_admin" not in {c.name for c in database.get_columns("user")}:
        run(migrator.add_column("user", "is_admin", pw.BooleanField(default=False)))
    first = User.select(pw.fn.MIN(User.id)).scalar()
    if first is not None and not User.select().where(User.is_admin).exists():
        User.update(is_admin=True).where(User.id == first).execute()


def _plain_http_named(migrator):
    """Version 7: a host named without a port allows https only, since plain http carries the key
    unencrypted. Where a secret's provider default or the models relying on it reached such a host
    over http, the secret gets that host:port, so nothing that worked stops, and its history says
    so: the owner may not have been the one who pointed a model there."""
    from . import hosts, urls
    catalog = LLMModel.user.is_null() & LLMModel.team.is_null()  # served by each user's own secret
    for table, owner in ((ProviderSecret, "user"), (TeamSecret, "team")):
        for secret in table.select(table.id, table.version, getattr(table, owner), table.provider,
                                   table.allowed_hosts):
            patterns = secret.allowed_hosts.split()
            ours = getattr(LLMModel, owner) == getattr(secret, f"{owner}_id")
            relying = LLMModel.select(LLMModel.base_url).where(
                (ours | catalog) if owner == "user" else ours, LLMModel.provider == secret.provider,
                LLMModel.api_key_encrypted.is_null())
            urls_reached = [urls.base_url_for(secret.provider), *(m.base_url for m in relying)]
            added = sorted({hosts.pattern_for(url) for url in urls_reached if hosts.plain_http(url)
                            and not hosts.allows(patterns, url) and hosts.allowed_over_https(patterns, url)})
            if added:  # in the secret's history, where its owner sees what the upgrade allowed
                table.update(allowed_hosts=" ".join(patterns + added), version=secret.version + 1).where(
                    table.id == secret.id).execute()
                subject = f"team:{secret.team_id}:secret:{secret.provider}" if owner == "team" else \
                    f"secret:{secret.provider}"
                AuditEvent.create(user=secret.user_id if owner == "user" else None, action="secret.allow_hosts",
                                  subject=subject, ip="upgrade", version=secret.version + 1,
                                  detail=f"schema 7, plain http: +{' '.join(added)}"[:300])


MIGRATIONS = [_key_egress, _model_keys_bound_to_owner, _user_ids_never_reused, _model_versions, _teams,
              _sign_up_policy, _plain_http_named]
MIGRATION_LOCK = 0x7661756C74  # "vault": PostgreSQL's advisory lock for migrate()


def migrate():
    """Create missing tables, prove the app's keyring opens this database, then run the steps it
    has not seen. All under one lock, so workers starting together take turns: the first
    migrates, the others then find the schema current."""
    sqlite = _sqlite()
    if sqlite:  # outside any transaction (inside one SQLite ignores it); see _user_ids_never_reused
        database.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        with _schema_lock():
            fresh = not database.table_exists(VaultMeta._meta.table_name)
            # only the missing tables: an existing table's new columns and their indexes are
            # a migration's to add (an index on a column not yet there would fail)
            database.create_tables([m for m in MODELS if not m.table_exists()])
            check_master_key(crypto.keyring())
            current = len(MIGRATIONS) if fresh else int(VaultMeta.read("schema_version") or 0)
            migrator = SchemaMigrator.from_database(database.obj)
            for version, step in enumerate(MIGRATIONS[current:], current + 1):
                step(migrator)
                current = version
            VaultMeta.write("schema_version", str(current))
    finally:
        if sqlite:
            database.execute_sql("PRAGMA foreign_keys = ON")
    return current


@contextlib.contextmanager
def _schema_lock():
    """SQLite: the write lock from the first statement, waited for as long as a long migration
    may take. PostgreSQL: an advisory lock held to the end of the transaction."""
    if _sqlite():
        database.execute_sql(f"PRAGMA busy_timeout = {MIGRATION_WAIT_MS}")
        try:
            with database.atomic("IMMEDIATE"):
                yield
        finally:
            database.execute_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return
    with database.atomic():
        advisory_lock(MIGRATION_LOCK)
        yield


def write_txn():
    """A read-then-write transaction. On SQLite it takes the write lock up front, so two
    writers queue on the busy timeout instead of failing with 'database is locked'."""
    if isinstance(database.obj, pw.SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()


def advisory_lock(key):
    """In a transaction on PostgreSQL, wait for the advisory lock `key`, held to the end: whoever
    takes it next reads what this transaction wrote. SQLite's write_txn() already serializes."""
    if isinstance(database.obj, pw.PostgresqlDatabase):
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (key,))


class PooledPostgres(PooledPostgresqlDatabase):
    """Peewee's pool, without its round trip on every checkout. It pings each connection it
    hands out (SELECT 1, ~120 µs: a fifth of what the gateway may add to a chat). As HikariCP
    does, a connection checked in less than PING_AFTER seconds ago is handed out unpinged: it was
    answering a moment ago. Should the server have dropped it since, its query fails (a 503), and
    it is discarded when it comes back, so the next request gets a fresh one."""
    PING_AFTER = 0.5

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._checked_in = weakref.WeakKeyDictionary()

    def _can_reuse(self, conn):
        reusable = super()._can_reuse(conn)
        if reusable:
            self._checked_in[conn] = time.monotonic()
        return reusable

    def _is_closed(self, conn):
        checked_in = self._checked_in.get(conn)
        if checked_in is not None and time.monotonic() - checked_in < self.PING_AFTER:
            return conn.closed
        return super()._is_closed(conn)


db_url.register_database(PooledPostgres, "postgresql+vault")


BUSY_TIMEOUT_MS = 10_000     # a write waits this long for SQLite's write lock
MIGRATION_WAIT_MS = 120_000  # a worker starting waits this long for another's migration


def connect_database(url, pool_size=16):
    """Pooled connections: one per request (or greenlet) at a time, at most `pool_size` per
    process; a request that finds the pool empty waits up to 10 s for one."""
    scheme, _, rest = url.partition("://")
    pool = {"max_connections": pool_size, "stale_timeout": 300, "timeout": 10}
    if scheme == "sqlite":
        path = db_url.parse(url)["database"]
        _private_sqlite_file(path)
        _write_ahead_log(path)
        return db_url.connect(
            f"sqlite+pool://{rest}", **pool, check_same_thread=False,
            pragmas={"busy_timeout": BUSY_TIMEOUT_MS, "foreign_keys": 1, "synchronous": "normal",
                     "journal_mode": "wal"})  # a no-op on a file _write_ahead_log switched
    if scheme in ("postgres", "postgresql"):
        return db_url.connect(f"postgresql+vault://{rest}", **pool)
    return db_url.connect(url)


def _private_sqlite_file(path):
    """SQLite creates its file 0644, and its -wal and -shm with the file's mode: so the file is
    created here first, 0600, and an existing one (and its -wal and -shm) made 0600."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except (FileExistsError, FileNotFoundError):  # there already; or no folder, which SQLite reports
        pass
    for name in (path, f"{path}-wal", f"{path}-shm"):
        if os.path.exists(name):
            private(name, 0o600)


def _write_ahead_log(path):
    """WAL, so readers go on while one request writes. SQLite records the journal mode in the
    database file, so it is switched once here, before the pool opens: switching a fresh file,
    SQLite answers 'database is locked' at once, without waiting its busy timeout, to a process
    racing another to do the same. Errors are peewee's, as the pool's own would be."""
    if path == ":memory:" or path.startswith("file:"):  # URIs: left to the pool's pragma
        return
    deadline = time.monotonic() + MIGRATION_WAIT_MS / 1000
    while True:
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)) as connection:
                connection.execute("PRAGMA journal_mode = wal")
            return
        except sqlite3.Error as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise getattr(pw, type(exc).__name__, pw.DatabaseError)(str(exc)) from exc
        time.sleep(0.01)


def init_app(app):
    database.initialize(connect_database(app.config["DATABASE_URL"], app.config["VAULT_DB_POOL_SIZE"]))
    with app.app_context(), database.connection_context():  # steps may read its settings and keyring
        migrate()
    app.teardown_appcontext(close_connection)


def close_connection(exc=None):
    # Idempotent: a streamed response tears down twice, and a pooled close only returns it.
    if not database.is_closed():
        database.close()
