"""Test plugin in Python: a measure that behaves well or badly on demand,
the counterpart of the Rust probe (tests/plugins/probe).

The engine must turn each bad behaviour into an error measurement with a
clear reason, within the deadline, and go on (tests/e2e/python.rs). Never
register it outside tests. Built with
``python -m smm_sdk build tests/plugins/probe-py --module probe_py``.

Everything the behaviours use is imported here, at the top: componentize-py
snapshots the interpreter after importing this module, and a module
imported later is not in the component.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Literal

from smm_sdk import (
    ConfigError,
    InputError,
    InternalError,
    Kind,
    Measure,
    Measurement,
    Metadata,
    Scale,
)

Behaviour = Literal[
    "constant",
    "loop",
    "alloc",
    "recurse",
    "recurse-unlimited",
    "recurse-c",
    "panic",
    "big-output",
    "garbage",
    "not-a-number",
    "read",
    "sleep",
    "exit",
    "sys-exit",
    "chatty-panic",
    "hoard",
    "write",
    "ambient",
    "text",
    "observed-at",
    "raise",
]


@dataclass
class Config:
    behaviour: Behaviour
    """What to do (the Rust probe's behaviours, plus ``raise``: raise the
    error kind named by ``text``, and Python-specific recursions)."""
    value: float = 0.0
    bytes: int = 0
    path: str = ""
    """A plain string, not a ``format: path``: the probe must be able to name
    files outside its grants."""
    text: str = ""
    token: str = field(default="", metadata={"schema": {"writeOnly": True}})
    """A secret the probe never uses: ``instance show`` must mask it."""


def _recurse(n: int) -> int:
    return _recurse(n + 1) + 1


class ProbePy(Measure):
    metadata = Metadata(
        id="probe-py",
        version="1.0.0",
        name="Probe (Python)",
        description="Test plugin in Python that misbehaves on demand.",
        kind=Kind.DIRECT,
        unit="1",
        scale=Scale.RATIO,
        output="whatever the behaviour asks",
    )
    Config = Config

    def collect(self, c: Config) -> Measurement:
        b = c.behaviour
        if b == "constant":
            return Measurement(value=c.value)
        if b == "loop":
            i = 0
            while True:
                i += 1
        if b == "alloc":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        if b == "recurse":
            # CPython's own recursion limit (1000) raises RecursionError
            # first: an uncaught exception, so a trap.
            return Measurement(value=_recurse(0))
        if b == "recurse-unlimited":
            # Without the limit, Python frames live on the heap (3.11+):
            # the recursion ends on the memory cap or the C stack.
            sys.setrecursionlimit(1 << 30)
            return Measurement(value=_recurse(0))
        if b == "recurse-c":
            # Recursion in C code: serialising a deeply nested list.
            nested: list = []
            for _ in range(c.bytes or 1_000_000):
                nested = [nested]
            return Measurement(value=len(json.dumps(nested)))
        if b == "panic":
            raise RuntimeError("probe asked to panic")
        if b == "big-output":
            return Measurement(value=1, details={"blob": "x" * c.bytes})
        if b == "garbage":
            return Measurement()
        if b == "not-a-number":
            return Measurement(value=float("nan"))
        if b == "read":
            try:
                with open(c.path, "rb") as f:
                    return Measurement(value=len(f.read()))
            except OSError as e:
                raise InputError(f"cannot read {c.path}: {e.strerror or e}") from None
        if b == "sleep":
            time.sleep(c.value)
            return Measurement(value=c.value)
        if b == "exit":
            os._exit(0)
        if b == "sys-exit":
            sys.exit(0)
        if b == "chatty-panic":
            for _ in range(c.bytes // 64):
                print("noise " * 10, file=sys.stderr)
            raise RuntimeError("the last words of a chatty plugin")
        if b == "hoard":
            files = []
            try:
                while len(files) < 100_000:
                    files.append(open(c.path, "rb"))
            except OSError:
                pass
            return Measurement(value=len(files))
        if b == "write":
            try:
                with open(c.path, "wb") as f:
                    f.write(b"written by a plugin")
            except OSError as e:
                raise InputError(f"cannot write {c.path}: {e.strerror or e}") from None
            return Measurement(value=1)
        if b == "ambient":
            env = len(os.environ)
            args = len(sys.argv)
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.connect(("127.0.0.1", 9))
                tcp = True
            except Exception:  # noqa: BLE001 - any failure means no network
                tcp = False
            try:
                os.listdir("/")
                root = True
            except OSError:
                root = False
            return Measurement(
                value=env + args,
                details={"env": env, "args": args, "tcp_connected": tcp, "root_listed": root},
            )
        if b == "text":
            if c.value < 0:
                raise InputError(c.text)
            return Measurement(text=c.text, details={"note": c.text})
        if b == "observed-at":
            return Measurement(value=1, observed_at=int(c.value))
        if b == "raise":
            kinds = {"config": ConfigError, "input": InputError, "internal": InternalError}
            raise kinds[c.text](f"probe asked to raise a {c.text} error")
        raise ConfigError(f"unknown behaviour {b!r}")
