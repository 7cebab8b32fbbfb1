"""Configuration with secrets in the source. Never run it."""

import random
import tempfile

DB_PASSWORD = "hunter2"  # B105: a hard-coded password.
BIND = "0.0.0.0"  # B104: binding to every interface.


def connect(client):
    # B106: a hard-coded password as an argument.
    return client.login(user="admin", password="s3cr3t!")


def session_token():
    # B311: a non-cryptographic random generator for a token.
    return random.randint(0, 10**12)


def scratch_file():
    # B306: mktemp is racy.
    return tempfile.mktemp()


def best_effort(action):
    try:
        action()
    except Exception:
        pass  # B110: try/except/pass.


def check(user):
    assert user.is_admin  # B101: assert removed under -O.
