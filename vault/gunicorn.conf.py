"""The production server: `gunicorn -c vault/gunicorn.conf.py app:app`.

A file path, not `python:vault.…`: importing it as a module would import the vault package (Flask,
Peewee, psycopg) in the master before the gevent workers patch the standard library, and psycopg
would then wait without yielding and Peewee's per-request connections would become per-thread.

gevent workers, because a chat stream holds its request for as long as the model talks: with
threads each stream pins a thread, with greenlets hundreds share one process. psycopg 3 and
urllib3 wait cooperatively under gevent's monkey-patching; SQLite calls are short and never span
a network wait. Override any setting with GUNICORN_CMD_ARGS, e.g. "--bind 0.0.0.0:8000 -w 4"."""
import multiprocessing
import os

bind = os.environ.get("VAULT_BIND", "127.0.0.1:8000")
worker_class = "gevent"
workers = int(os.environ.get("VAULT_WORKERS", multiprocessing.cpu_count()))
worker_connections = 1000   # concurrent requests (streams) per worker
keepalive = 75              # keep client connections (and their pools) warm between requests
timeout = 60                # heartbeat only under gevent: long streams are not killed by it
graceful_timeout = 30
accesslog = None            # request lines go to a proxy's log; ours never carry keys anyway

