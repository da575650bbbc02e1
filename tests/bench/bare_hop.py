"""The floor: a bare WSGI app that forwards a chat request to the provider and hands back its
answer, with no auth, no database and no parsing, under the vault's own server configuration:
`BENCH_UPSTREAM=… gunicorn -c vault/gunicorn.conf.py tests.bench.bare_hop:app`"""
import os

import urllib3

UPSTREAM = os.environ["BENCH_UPSTREAM"]
pool = urllib3.PoolManager(maxsize=64)


def app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    upstream = pool.request("POST", UPSTREAM + "/chat/completions", body=body,
                            headers={"Content-Type": "application/json", "Authorization": "Bearer sk-bench"})
    start_response(f"{upstream.status} OK", [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(upstream.data)))])
    return [upstream.data]
