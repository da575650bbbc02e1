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

Half-open connections (slowloris): a request's head, its body, and the wait for the next request on
a kept-alive connection each take at most VAULT_HEADER_TIMEOUT seconds; a client that reads nothing
of an answer for VAULT_SEND_TIMEOUT seconds is let go; and one client address holds at most
VAULT_MAX_CONNECTIONS_PER_ADDRESS of a worker's connections. So a client that never finishes its
requests, or never reads their answers, cannot fill the pool everyone shares.
Behind a reverse proxy every connection comes from the proxy: set the cap to 0 and let the proxy
bound header time and connections per client (README, Running several instances)."""
import collections
import multiprocessing
import os

import gevent
from gevent import GreenletExit
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler, PyWSGIServer

HEADER_TIMEOUT = float(os.environ.get("VAULT_HEADER_TIMEOUT", "10"))  # 0: no limit
SEND_TIMEOUT = float(os.environ.get("VAULT_SEND_TIMEOUT", "60"))
MAX_HEAD = 64 * 1024  # a request's line and headers together (gunicorn's own parser allowed ~800 KiB)


class Dropped(GreenletExit):
    """A connection closed without an answer: a request head or body that took too long (or the
    wait for the next request on an idle keep-alive connection), or a head too large. A
    GreenletExit, so gevent logs nothing."""


class Handler(PyWSGIHandler):
    """gevent's HTTP handler, with limits: a request's head, and then its body, must each arrive
    within HEADER_TIMEOUT seconds; a head may hold MAX_HEAD bytes; a body the app did not read
    is not waited for (the connection closes instead); and a client that takes nothing of an
    answer for SEND_TIMEOUT seconds is let go (its stream, and the provider's connection, end)."""

    def handle(self):
        self.rfile = self.head = HeadLimit(self.rfile)
        try:
            super().handle()
        except Dropped:
            pass  # gevent's handle() has closed the socket on the way out

    def handle_one_request(self):
        self.head.left, self.timer = MAX_HEAD, _timer()
        try:
            return super().handle_one_request()
        finally:
            self.timer.close()

    def run_application(self):
        self.head.left = None
        self.timer.close()
        self.socket.settimeout(SEND_TIMEOUT)  # each write (and read) must make progress this often
        body = self.wsgi_input
        if body is not None and (body.content_length or body.chunked_input):
            self.timer = _timer()  # the body must arrive in time too
            self.environ["wsgi.input"] = TimedBody(body, self.timer)
        try:
            super().run_application()
        finally:
            if body is not None and (body.chunked_input or body.position < (body.content_length or 0)):
                # Unread (a 401, a 404…): gevent would read it to its end to serve the next
                # request on this connection; a client that never sends it would hold us.
                body.chunked_input, body.content_length = False, body.position
                self.close_connection = True


    def handle_error(self, kind, value, tb):
        if isinstance(value, TimeoutError):  # a client that took nothing for SEND_TIMEOUT: let go, quietly
            self.close_connection = True
            return
        super().handle_error(kind, value, tb)


def _timer():
    return gevent.Timeout.start_new(HEADER_TIMEOUT, Dropped) if HEADER_TIMEOUT > 0 else gevent.Timeout()


class HeadLimit:
    """The connection's reader, counting what a request's head takes of it (`left` None: a body)."""

    def __init__(self, rfile):
        self.rfile, self.left = rfile, None

    def readline(self, size=-1):
        if self.left is None:
            return self.rfile.readline(size)
        line = self.rfile.readline(self.left + 1 if size is None or size < 0 else min(size, self.left + 1))
        self.left -= len(line)
        if self.left < 0:
            raise Dropped()
        return line

    def __getattr__(self, name):
        return getattr(self.rfile, name)


class TimedBody:
    """wsgi.input whose timer stops once the whole body has been read."""

    def __init__(self, body, timer):
        self.body, self.timer = body, timer

    def read(self, length=None):
        return self._done(self.body.read(length))

    def readline(self, size=None):
        return self._done(self.body.readline(size))

    def readlines(self, hint=None):
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")

    def _done(self, data):
        body = self.body
        if not data or (not body.chunked_input and body.position >= (body.content_length or 0)):
            self.timer.close()
        return data


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

