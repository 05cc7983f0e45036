"""Choose the backend (native C or pure Python) and the first copy level.

``TELEBOT_FORCE_COPY`` (read at import) or :func:`force` selects them, for
tests and the benchmark:

* unset / ``auto``: native when built, starting at ``clone``;
* ``clone``, ``copy_file_range``, ``sendfile``, ``rw``: start at that level
  (lower levels still serve as fallbacks when it is unsupported);
* ``python`` or ``python:<level>``: the pure-Python backend.

``TELEBOT_FORCE_NAMING`` or :func:`force_naming` sets how finished copies
get their names in both backends: ``linkat``, ``proc-link`` or
``temp-rename`` (default: ``linkat``, lowered on the first failure).
"""

from __future__ import annotations

import os
import threading
from types import ModuleType

from telebot.errors import ConfigError
from telebot.fileio import _pyio
from telebot.fileio._job import CLONE, LEVEL_NAMES, NAME_LINKAT, NAMING_NAMES

FORCE_ENV = "TELEBOT_FORCE_COPY"
NAMING_ENV = "TELEBOT_FORCE_NAMING"
_LEVELS = {name: level for level, name in LEVEL_NAMES.items()}


def _load_native() -> ModuleType | None:
    try:
        from telebot.fileio import _native
    except ImportError:  # extension not built: the pure-Python path serves
        return None
    return _native


NATIVE_MODULE = _load_native()
_lock = threading.Lock()
# (backend module, first level), replaced as one tuple so readers need no
# lock: copy_file reads it once per file.
selected: tuple[ModuleType, int] = (_pyio, CLONE)


def parse(value: str | None) -> tuple[ModuleType, int]:
    """Backend and first level for a TELEBOT_FORCE_COPY value."""
    value = (value or "auto").strip().lower()
    backend: ModuleType = NATIVE_MODULE or _pyio
    if value.startswith("python"):
        backend = _pyio
        value = value.partition(":")[2] or "auto"
    if value == "auto":
        return backend, CLONE
    if value not in _LEVELS:
        choices = "auto, python, " + ", ".join(_LEVELS)
        raise ConfigError(FORCE_ENV, f"must be one of {choices} (python:<level> too)")
    return backend, _LEVELS[value]


def force(value: str | None) -> None:
    """Select backend and level at run time (tests, bench); None = auto."""
    global selected
    choice = parse(value)
    with _lock:
        selected = choice


def force_naming(value: str | None) -> None:
    """Set the naming method of both backends (tests, bench); None = default."""
    numbers = {name: number for number, name in NAMING_NAMES.items()}
    name = (value or NAMING_NAMES[NAME_LINKAT]).strip().lower()
    if name not in numbers:
        raise ConfigError(NAMING_ENV, f"must be one of {', '.join(numbers)}")
    for backend in (NATIVE_MODULE, _pyio):
        if backend is not None:
            backend.naming(numbers[name])


def naming() -> str:
    """The naming method the selected backend uses now."""
    return NAMING_NAMES[selected[0].naming()]


def current() -> tuple[ModuleType, int]:
    """The (backend module, first level) new operations use."""
    return selected


force(os.environ.get(FORCE_ENV))
force_naming(os.environ.get(NAMING_ENV))
