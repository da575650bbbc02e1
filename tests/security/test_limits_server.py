"""Sign-in limits in the production server with four worker processes: a guess counts once,
whichever worker answers, and an account is locked whichever address the guesses come from.
The server trusts 127.0.0.1 as its proxy, so X-Forwarded-For plays the client's address."""
import concurrent.futures
import re

import pytest
import requests

from tests.helpers import PASSWORD, close_pool, make_user
from tests.server import Server

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`gunicorn -c vault/gunicorn.conf.py app:app` with VAULT_WORKERS=4 on a SQLite file, its
    access log naming the worker (pid) that answered each request."""
    tmp = tmp_path_factory.mktemp("limits")
    from vault import create_app
    from vault.settings import new_master_key
    env = {"DATABASE_URL": f"sqlite:///{tmp}/v.db", "VAULT_MASTER_KEYS": new_master_key(),
           "SECRET_KEY": "limits-secret", "VAULT_TRUSTED_PROXIES": "127.0.0.1"}
    app = create_app({**env, "INSTANCE_PATH": str(tmp / "setup")})
    for email in ("ada@example.com", "bob@example.com", "cy@example.com"):
        make_user(app, email)
    close_pool()
    log = tmp / "access.log"
    with Server(tmp, {**env, "VAULT_WORKERS": "4", "RATELIMIT_STORAGE_URI": "memory://",
                      "GUNICORN_CMD_ARGS": f"--access-logfile {log} --access-logformat '%(p)s %(s)s %(r)s'"}) as running:
        yield running.base, log


class Browser:
    """One client address (X-Forwarded-For, believed from 127.0.0.1) with a CSRF token; every
    attempt on a new connection, so the kernel hands each to whichever worker accepts first."""

    def __init__(self, base, address):
        self.base, self.address = base, address
        answer = requests.get(base + "/login", headers={"Connection": "close"}, timeout=10)
        self.cookies = answer.cookies
        self.token = re.search(r'name="csrf-token" content="([^"]+)"', answer.text).group(1)

    def sign_in(self, email, password):
        return requests.post(self.base + "/login", cookies=self.cookies, allow_redirects=False, timeout=30,
                             headers={"Connection": "close", "X-Forwarded-For": self.address},
                             data={"email": email, "password": password, "csrf_token": self.token}).status_code


def pids_of(log, status):
    """The workers whose access-log lines answered POST /login with `status`."""
    lines = log.read_text().splitlines()
    return {line.split()[0] for line in lines if f" {status} POST /login" in line}


def test_the_sixth_wrong_password_is_refused_whichever_worker_answers(server):
    base, log = server
    thief = Browser(base, "203.0.113.10")
    assert [thief.sign_in("ada@example.com", "wrong guess 1") for _ in range(5)] == [401] * 5
    answers = []
    # In bursts of parallel connections, until several workers have answered, each with a refusal:
    # one connection at a time, a busy machine's kernel may hand all of them to the same worker.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(10):
            answers += pool.map(lambda n: thief.sign_in("ada@example.com", f"wrong guess {n}"), range(8))
            if len(pids_of(log, 429)) >= 3:
                break
    assert set(answers) == {429}, answers
    assert thief.sign_in("ada@example.com", PASSWORD) == 429  # the right one waits too
    assert len(pids_of(log, 429)) >= 2, log.read_text()  # the count is shared, not per worker


def test_five_wrong_passwords_lock_the_account_from_any_address(server):
    base, _ = server
    first, second = Browser(base, "198.51.100.20"), Browser(base, "198.51.100.21")
    assert [first.sign_in("bob@example.com", "not bob's password") for _ in range(5)] == [401] * 5
    assert second.sign_in("bob@example.com", PASSWORD) == 429     # another address: still locked
    assert second.sign_in("cy@example.com", PASSWORD) == 302      # that address is not


def test_a_burst_of_parallel_guesses_gets_no_more_than_five_through(server):
    base, _ = server
    thief = Browser(base, "192.0.2.30")
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda n: thief.sign_in(f"user{n}@example.com", "guess"), range(12)))
    assert answers.count(401) <= 5 and set(answers) <= {401, 429}, answers
