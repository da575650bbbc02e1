"""The production server: `gunicorn -c vault/gunicorn.conf.py app:app`.

A file path, not `python:vault.…`: importing it as a module would import the vault package (Flask,
Peewee, psycopg) in the master before the gevent workers patch the standard library, and psycopg
would then wait without yielding and Peewee's per-request connections would become per-thread.

gevent workers, because a chat stream holds its request for as long as the model talks: with
threads each stream pins a thread, with greenlets hundreds share one process. psycopg 3 and
urllib3 wait cooperatively under gevent's monkey-patching; SQLite calls are short and never span
a network wait. Override any setting with GUNICORN_CMD_ARGS, e.g. "--bind 0.0.0.0:8000 -w 4".

The worker is gunicorn's gevent_pywsgi: gevent's own HTTP server in each worker. In runs side by
side here it spent 2-15% less CPU a proxied request than gunicorn's gevent worker (whose parser is
pure Python), with the same or lower latency (README, Performance).

Half-open connections (slowloris): a request's head, and the wait for the next one on a kept-alive
connection, must take at most VAULT_HEADER_TIMEOUT seconds, and one client address holds at most
VAULT_MAX_CONNECTIONS_PER_ADDRESS of a worker's connections, so a client that never finishes its
requests cannot fill the pool everyone shares.
Behind a reverse proxy every connection comes from the proxy: set the cap to 0 and let the proxy
bound header time and connections per client (README, Running several instances)."""
import collections
import multiprocessing
import os

import gevent
from gevent import GreenletExit
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler, PyWSGIServer

HEADER_TIMEOUT = int(os.environ.get("VAULT_HEADER_TIMEOUT", "10"))


class HeadTimeout(GreenletExit):
    """A request head (or the next one on an idle keep-alive connection) that took too long: the
    connection is closed without an answer. A GreenletExit, so gevent logs nothing."""


class Handler(PyWSGIHandler):
    """gevent's HTTP handler, with a time limit on each request's head."""

    def handle(self):
        try:
            super().handle()
        except HeadTimeout:
            pass  # gevent's handle() has closed the socket on the way out

    def handle_one_request(self):
        self.head_timer = gevent.Timeout.start_new(HEADER_TIMEOUT, HeadTimeout)
        try:
            return super().handle_one_request()
        finally:
            self.head_timer.close()

    def run_application(self):
        self.head_timer.close()  # the head is in: the app (and a streamed answer) take their time
        super().run_application()


class Server(PyWSGIServer):
    """gevent's WSGI server, with a cap on the open connections of one client address."""
    per_address = int(os.environ.get("VAULT_MAX_CONNECTIONS_PER_ADDRESS", "500"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.open = collections.Counter()

    def handle(self, client, peer):
        address = peer[0] if isinstance(peer, tuple) else None  # a unix socket has none
        if address and self.per_address and self.open[address] >= self.per_address:
            client.close()  # at once: it never takes a greenlet's time or a slot for long
            return
        self.open[address] += 1
        try:
            super().handle(client, peer)
        finally:
            self.open[address] -= 1
            if not self.open[address]:
                del self.open[address]


class Worker(GeventPyWSGIWorker):
    server_class, wsgi_handler = Server, Handler


bind = os.environ.get("VAULT_BIND", "127.0.0.1:8000")
worker_class = Worker
workers = int(os.environ.get("VAULT_WORKERS", multiprocessing.cpu_count()))
worker_connections = 1000   # concurrent requests (streams) per worker
timeout = 60                # heartbeat only under gevent: long streams are not killed by it
graceful_timeout = 30
accesslog = None            # request lines go to a proxy's log; ours never carry keys anyway

