#!/usr/bin/env python3
"""Check the plug-in boundary: plug-ins import from the engine only its plug-in API.

usage: python .ci/plugin_imports.py [REPO_ROOT]   (default: this script's repository)

Plug-ins are the modules under ``telebot/sources/``, ``telebot/processing/`` and
``telebot/sinks/``; the plug-in API is ``telebot.engine.task``, ``telebot.engine.pipeline`` and
``telebot.engine.runner`` (and their members). Any other import of ``telebot.engine`` (its
package, ``manager``, ``taskstate``, ``diskguard``, ...) is listed as ``file:line import`` and
the exit status is 1. Every import counts, also one inside a function or under TYPE_CHECKING,
and relative imports are resolved first.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "telebot"
PLUGIN_DIRS = ("sources", "processing", "sinks")
ENGINE = f"{PACKAGE}.engine"
API = tuple(f"{ENGINE}.{name}" for name in ("task", "pipeline", "runner"))


def allowed(module: str) -> bool:
    """Whether importing ``module`` (a dotted name) keeps to the plug-in API."""
    if module != ENGINE and not module.startswith(ENGINE + "."):
        return True  # not the engine at all
    return any(module == api or module.startswith(api + ".") for api in API)


def imported(path: Path, module_name: str) -> Iterator[tuple[int, str, str]]:
    """``(line, module, how it was written)`` of each module ``path`` imports; for ``from X
    import a, b`` both ``X.a`` and ``X.b`` (``a`` may be a submodule: ``from telebot.engine
    import taskstate``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            written = "." * node.level + (node.module or "")
            for alias in node.names:
                target = source if alias.name == "*" else f"{source}.{alias.name}"
                yield node.lineno, target, f"from {written} import {alias.name}"


def violations(root: Path) -> list[str]:
    """``file:line import`` for every plug-in import outside the API, ``file`` relative to
    ``root``: sources, then processing, then sinks, each in file and line order."""
    found: list[str] = []
    for part in PLUGIN_DIRS:
        folder = root / PACKAGE / part
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(root)
            module_name = ".".join(rel.with_suffix("").parts)
            for line, module, written in sorted(imported(path, module_name)):
                if not allowed(module):
                    found.append(f"{rel}:{line} {written}")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    if not (root / PACKAGE).is_dir():
        print(f"no {PACKAGE}/ package under {root}", file=sys.stderr)
        return 2
    found = violations(root)
    for line in found:
        print(line)
    if found:
        print(
            f"{len(found)} plug-in import(s) outside the plug-in API "
            f"({', '.join(API)}); see telebot/engine/__init__.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
