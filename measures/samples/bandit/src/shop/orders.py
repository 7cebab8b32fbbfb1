"""Order handling, written with the mistakes Bandit looks for. Never run it."""

import hashlib
import pickle
import sqlite3
import subprocess

import yaml


def export_orders(customer):
    # B602: a shell command built from user input.
    subprocess.call("tar czf /tmp/orders.tgz orders/" + customer, shell=True)


def archive(name):
    # B602 again, in another function: a second finding of the same test.
    subprocess.Popen(f"gzip {name}", shell=True)


def load_cart(blob):
    # B301: unpickling untrusted data.
    return pickle.loads(blob)


def load_settings(text):
    # B506: yaml.load without a safe loader.
    return yaml.load(text)


def find_order(db, order_id):
    # B608: SQL built by string formatting.
    query = "SELECT * FROM orders WHERE id = '%s'" % order_id
    return sqlite3.connect(db).execute(query).fetchall()


def checksum(data):
    # B324: MD5 for security.
    return hashlib.md5(data).hexdigest()


def apply_discount(expression):
    # B307: eval of user input.
    return eval(expression)


def trusted_listing():
    # A finding silenced on purpose: counted as nosec, not reported.
    return subprocess.check_output("ls", shell=True)  # nosec
