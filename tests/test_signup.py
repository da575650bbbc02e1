"""The instance's admin: its first account, however made, even when two arrive at once."""
import re
import threading

from tests.helpers import PASSWORD, csrf_from, sign_in

from vault.db import User


def register(client, email, password=PASSWORD):
    return client.post("/register", data={"email": email, "password": password, "confirm": password,
                                          "csrf_token": csrf_from(client.get("/register"))})


def admins(db):
    with db():
        return sorted(u.email for u in User.select().where(User.is_admin))


def parallel(count, act):
    """`count` threads released together, each acting with its own client: their answers."""
    barrier, results = threading.Barrier(count), [None] * count

    def worker(i):
        prepared = act(i)  # e.g. the CSRF token fetched first, so that only the posts race
        barrier.wait()
        results[i] = prepared()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def racing_registration(app):
    def act(i):
        client = app.test_client()
        data = {"email": f"racer{i}@example.com", "password": PASSWORD, "confirm": PASSWORD,
                "csrf_token": csrf_from(client.get("/register"))}
        return lambda: client.post("/register", data=data).status_code
    return act


# --- the instance's admin -----------------------------------------------------------------------

def test_the_first_account_is_the_admin_and_the_second_is_not(app, client, db):
    assert register(client, "first@example.com").status_code == 302
    assert register(app.test_client(), "second@example.com").status_code == 302
    assert admins(db) == ["first@example.com"]
    first = sign_in(app.test_client(), "first@example.com").get("/account").get_data(as_text=True)
    second = sign_in(app.test_client(), "second@example.com").get("/account").get_data(as_text=True)
    assert re.search(r'<span class="badge[^"]*"[^>]*>admin</span>', first)
    assert ">admin<" not in second


def test_the_first_account_made_on_the_command_line_is_the_admin_too(app, db):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["create-user", "root@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0 and "the instance admin" in made.output
    other = runner.invoke(args=["create-user", "lin@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert other.exit_code == 0 and "admin" not in other.output
    assert admins(db) == ["root@example.com"]


def test_first_registrations_at_once_make_exactly_one_admin(app, db):
    assert parallel(8, racing_registration(app)) == [302] * 8
    with db():
        assert User.select().count() == 8
    assert len(admins(db)) == 1
