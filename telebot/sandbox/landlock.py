"""Landlock through its three system calls (ctypes), and the rlimits of a boxed child.

Standard library only: :mod:`telebot.sandbox.enter` imports this module by file, before any of
telebot can be imported, in the child that is about to ``exec`` the tool.

Landlock (Linux >= 5.13, unprivileged, works in containers whose seccomp profile lets the three
calls through) restricts the calling thread and everything it later ``exec``s: once
:func:`restrict` returns, only the paths given to it can be opened, with the rights given, and
(ABI >= 4) no TCP connect or bind happens; (ABI >= 6) the child cannot signal the bot or reach
its abstract unix sockets. The kernel, not this code, keeps the walls: a tool that is exploited
is still inside them.

Facts relied on (the kernel's ``include/uapi/linux/landlock.h`` and its documentation):

* the syscall numbers 444/445/446 are the same on every architecture;
* ``landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`` returns the ABI;
* a rule on a regular file may only carry file rights (execute, read, write, truncate, ioctl),
  else ``EINVAL``;
* ``restrict_self`` needs ``no_new_privs`` (or CAP_SYS_ADMIN): we always set it;
* access rights a ruleset does not *handle* stay allowed, so the ruleset handles every right the
  running ABI knows.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import stat
from collections.abc import Iterable

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights (the ABI that introduced each).
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # what a file rule may hold

READ = READ_FILE | READ_DIR
READ_EXEC = READ | EXECUTE
# A writable folder: everything but devices. No MAKE_CHAR/MAKE_BLOCK (an archive's device entry
# is skipped by the in-code checks; the kernel refuses it too).
WRITE = (
    READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO
    | MAKE_SYM | REFER | TRUNCATE
)  # fmt: skip


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is __attribute__((packed)): 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class LandlockError(OSError):
    """Landlock could not be set up; ``strerror`` says why in words for a person."""


def abi_version() -> int:
    """The running kernel's Landlock ABI (>= 1), or raise :class:`LandlockError` saying why
    there is none."""
    abi = _libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    if abi >= 1:
        return int(abi)
    err = ctypes.get_errno()
    reasons = {
        errno.ENOSYS: "the kernel has no Landlock (Linux 5.13 or newer with CONFIG_SECURITY_"
        "LANDLOCK is needed) or a seccomp profile hides it",
        errno.EOPNOTSUPP: "Landlock is built into the kernel but not enabled (add landlock to "
        "the lsm= boot parameter)",
        errno.EPERM: "a seccomp profile refuses the Landlock system calls",
    }
    raise LandlockError(err, reasons.get(err, f"landlock_create_ruleset: {os.strerror(err)}"))


def fs_rights(abi: int) -> int:
    """Every filesystem right ``abi`` knows (the ruleset handles them all)."""
    best = max(v for v in _FS_BY_ABI if v <= abi)
    return _FS_BY_ABI[best]


def restrict(
    abi: int,
    rules: Iterable[tuple[str, int]],
    *,
    network: bool,
) -> None:
    """Restrict this process (and what it ``exec``s) to ``rules`` — (path, rights) pairs —
    and, unless ``network``, to no TCP at all. A path that does not exist is skipped (nothing
    there to allow). Raises :class:`LandlockError`; on error nothing is restricted and the
    caller must not exec the tool (fail closed)."""
    handled = fs_rights(abi)
    attr = _RulesetAttr(handled_access_fs=handled)
    size = 8  # ABI 1-3: handled_access_fs only
    if abi >= 4:
        size = 16
        if not network:
            attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP
    if abi >= 6:
        size = 24
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    ruleset = _check(
        _libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0),
        "landlock_create_ruleset",
    )
    try:
        for path, rights in rules:
            _add_path(ruleset, path, rights & handled)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(_libc.syscall(SYS_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _add_path(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= FILE_ONLY
        if not rights:
            return
        beneath = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _check(
            _libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(beneath), 0),
            f"landlock_add_rule({path})",
        )
    finally:
        os.close(fd)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"{what}: {os.strerror(err)}")
    return int(result)


def set_limits(*, memory: int | None, file_size: int | None, open_files: int,
               processes: int | None) -> None:
    """Apply the rlimits of a box to this process (inherited across ``exec``). ``processes``
    is the number of processes/threads the uid may have in all (RLIMIT_NPROC counts the whole
    uid, so the caller adds the box's budget to what the uid already runs)."""
    pairs = [
        (resource.RLIMIT_CORE, 0),  # a crashed tool leaves no core file of untrusted data
        (resource.RLIMIT_NOFILE, open_files),
    ]
    if memory is not None:
        pairs.append((resource.RLIMIT_AS, memory))
    if file_size is not None:
        pairs.append((resource.RLIMIT_FSIZE, max(file_size, 0)))
    if processes is not None:
        pairs.append((resource.RLIMIT_NPROC, processes))
    for which, value in pairs:
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)  # an unprivileged process may only lower its hard limit
        resource.setrlimit(which, (value, value))
