"""``python -m smm_sdk``: ``build`` a component, or print a measure's
``describe``-d metadata and configuration schema (run natively)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys


def _describe(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smm_sdk describe",
        description="Print a measure's metadata and configuration schema as JSON.",
    )
    parser.add_argument("src", help="directory holding the measure's module")
    parser.add_argument("--module", "-m", required=True)
    parser.add_argument("--measure")
    args = parser.parse_args(argv)
    sys.path.insert(0, args.src)
    from . import _export

    cls = _export.find_measure(importlib.import_module(args.module), args.measure)
    m = cls.describe()
    doc = {
        "id": m.id,
        "version": m.version,
        "name": m.name,
        "description": m.description,
        "kind": getattr(m.kind, "value", m.kind),
        "unit": m.unit,
        "scale": getattr(m.scale, "value", m.scale),
        "output": m.output,
        "config_schema": cls.schema(),
    }
    print(json.dumps(doc, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "build":
        from .build import main as build_main

        return build_main(argv[1:])
    if argv and argv[0] == "describe":
        return _describe(argv[1:])
    print(
        "usage: python -m smm_sdk build SRC_DIR --module MODULE [-o OUT.wasm] [--wit DIR]\n"
        "       python -m smm_sdk describe SRC_DIR --module MODULE",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
