"""The database: Peewee proxy, the records, scoped query helpers, schema migrations,
and one connection per request (pooled), closed in an idempotent teardown."""
import datetime as dt
import time
import uuid
import weakref

import peewee as pw  # the prefix keeps Peewee's Model apart from LLMModel
from playhouse import db_url
from playhouse.migrate import SchemaMigrator
from playhouse.pool import PooledPostgresqlDatabase

from .crypto import CHECK_AAD, CHECK_PLAINTEXT, MasterKeyError
from .errors import NotFound

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


class User(BaseModel):
    email = pw.CharField(max_length=254, unique=True)  # stored lower-case
    password_hash = pw.CharField(max_length=255)
    created_at = pw.DateTimeField(default=utcnow)

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


class ProviderSecret(BaseModel):
    user = pw.ForeignKeyField(User, backref="secrets", on_delete="CASCADE")
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


class LLMModel(BaseModel):
    id = pw.CharField(primary_key=True, max_length=36, default=lambda: str(uuid.uuid4()))
    user = pw.ForeignKeyField(User, backref="models", null=True, on_delete="CASCADE")  # null: shared
    name = pw.CharField(max_length=100)
    provider = pw.CharField(max_length=32)
    model_id = pw.CharField(max_length=200)
    base_url = pw.CharField(max_length=500)
    auth_type = pw.CharField(max_length=16)
    api_key_encrypted = pw.TextField(null=True)
    key_preview = pw.CharField(max_length=32, null=True)
    supports_streaming = pw.BooleanField(default=True)
    supports_tools = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "llm_model"
        indexes = ((("user", "name"), True),)

    @staticmethod
    def aad_for(model_id):
        """What a model's own key is sealed to: the model's id."""
        return model_id

    @property
    def aad(self):
        return self.aad_for(self.id)

    @classmethod
    def visible_to(cls, user):
        """Reads: the user's own models and the shared catalog."""
        return cls.select().where((cls.user == user) | cls.user.is_null())


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


MODELS = [User, Session, ApiToken, ProviderSecret, LLMModel, UsageRecord, AuditEvent, VaultMeta]

# Each step takes a playhouse SchemaMigrator and brings the schema up by one version. Append
# only: a deployed database has run the earlier ones. A new database starts at the last version.
def _key_egress(migrator):
    """Version 1: where each key may travel, token scopes, and the audit's detail. Existing
    secrets may go to their provider's default host (custom ones: the hosts of the models that
    rely on them, so nothing that worked stops); existing tokens keep both scopes."""
    from playhouse.migrate import migrate as run
    run(migrator.add_column("provider_secret", "allowed_hosts", pw.TextField(default="")),
        migrator.add_column("api_token", "scopes", pw.CharField(max_length=64, default="chat manage")),
        migrator.add_column("api_token", "models", pw.TextField(null=True)),
        migrator.add_column("audit_event", "detail", pw.CharField(max_length=300, null=True)))
    for secret in ProviderSecret.select():
        ProviderSecret.update(allowed_hosts=" ".join(default_hosts(secret))).where(
            ProviderSecret.id == secret.id).execute()


def default_hosts(secret):
    """The hosts a secret may reach before its owner says otherwise."""
    from . import hosts, urls
    patterns = hosts.default_for(urls.base_url_for(secret.provider))
    if patterns is None:  # custom: no default URL, so the owner's models say where it went
        models = (LLMModel.owned_by(secret.user_id).select(LLMModel.base_url)
                  .where(LLMModel.provider == secret.provider, LLMModel.api_key_encrypted.is_null()))
        patterns = sorted({hosts.describe(m.base_url) for m in models})
    return patterns


MIGRATIONS = [_key_egress]


def migrate():
    """Create missing tables, then run the migration steps this database has not seen."""
    with database.atomic():
        fresh = not database.table_exists(VaultMeta._meta.table_name)
        database.create_tables(MODELS, safe=True)
        current = len(MIGRATIONS) if fresh else int(VaultMeta.read("schema_version") or 0)
        migrator = SchemaMigrator.from_database(database.obj)
        for version, step in enumerate(MIGRATIONS[current:], current + 1):
            step(migrator)
            current = version
        VaultMeta.write("schema_version", str(current))
    return current


def write_txn():
    """A read-then-write transaction. On SQLite it takes the write lock up front, so two
    writers queue on the busy timeout instead of failing with 'database is locked'."""
    if isinstance(database.obj, pw.SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()


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


def connect_database(url, pool_size=16):
    """Pooled connections: one per request (or greenlet) at a time, at most `pool_size` per
    process; a request that finds the pool empty waits up to 10 s for one."""
    scheme, _, rest = url.partition("://")
    pool = {"max_connections": pool_size, "stale_timeout": 300, "timeout": 10}
    if scheme == "sqlite":
        return db_url.connect(
            f"sqlite+pool://{rest}", **pool, check_same_thread=False,
            pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000,
                     "synchronous": "normal"})
    if scheme in ("postgres", "postgresql"):
        return db_url.connect(f"postgresql+vault://{rest}", **pool)
    return db_url.connect(url)


def init_app(app):
    database.initialize(connect_database(app.config["DATABASE_URL"], app.config["VAULT_DB_POOL_SIZE"]))
    with app.app_context(), database.connection_context():  # a step may read the app's settings
        migrate()
    app.teardown_appcontext(close_connection)


def close_connection(exc=None):
    # Idempotent: a streamed response tears down twice, and a pooled close only returns it.
    if not database.is_closed():
        database.close()
