"""How a finished copy gets its final name: an unnamed O_TMPFILE file linked
in (AT_EMPTY_PATH or the /proc link), or a named temp file renamed into place.
Each method, forced in turn on both backends, must keep the same contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebot import fileio
from telebot.errors import TaskCancelled
from telebot.fileio import _backend
from tests.fileio.conftest import leftovers, pattern, write

REPO = Path(__file__).resolve().parents[2]
NAMINGS = ["linkat", "proc-link", "temp-rename"]


@pytest.fixture(params=NAMINGS)
def naming(request: pytest.FixtureRequest) -> Iterator[str]:
    _backend.force_naming(request.param)
    yield request.param
    _backend.force_naming(None)


def expected(naming: str, backend: str) -> str:
    # Python's os.link cannot pass AT_EMPTY_PATH: its backend starts at the /proc link.
    return "proc-link" if naming == "linkat" and backend == "python" else naming


def test_copy_under_each_naming(backend: str, naming: str, shm_dir: Path, tmp_path: Path,
                                small_chunk: int) -> None:
    data = pattern(3 * small_chunk + 5)
    src = write(tmp_path / "s", data, mode=0o604, mtime_ns=1_500_000_000_000_000_123)
    before = set(os.listdir(shm_dir))
    names_during: list[set[str]] = []

    def progress(done: int, total: int) -> None:
        names_during.append(set(os.listdir(shm_dir)))

    assert fileio.copy_file(src, shm_dir / "d", progress=progress) == len(data)
    assert _backend.naming() == expected(naming, backend)  # no silent lowering
    assert (shm_dir / "d").read_bytes() == data
    st = os.stat(shm_dir / "d")
    assert (st.st_mode & 0o7777, st.st_mtime_ns) == (0o604, 1_500_000_000_000_000_123)
    # While the data is written the final name never exists; an unnamed file
    # is not in the folder at all.
    assert names_during and all("d" not in names for names in names_during)
    if naming != "temp-rename":
        assert all(names == before for names in names_during)
    assert leftovers(shm_dir) == []


def test_fast_path_under_each_naming(backend: str, naming: str, tmp_path: Path) -> None:
    src = write(tmp_path / "s", b"4k" * 2048, mode=0o640)
    for i in range(3):
        fileio.copy_file(src, tmp_path / f"d{i}")
    assert _backend.naming() == expected(naming, backend)
    assert [(tmp_path / f"d{i}").read_bytes() for i in range(3)] == [b"4k" * 2048] * 3
    assert sorted(os.listdir(tmp_path)) == ["d0", "d1", "d2", "s"]


def test_existing_destination_is_replaced_in_one_step(backend: str, naming: str,
                                                      shm_dir: Path) -> None:
    write(shm_dir / "d", b"old")
    old_inode = os.stat(shm_dir / "d").st_ino
    with open(shm_dir / "d", "rb") as reader:  # an open reader keeps the old file whole
        fileio.copy_file(write(shm_dir / "s", b"new contents"), shm_dir / "d")
        assert reader.read() == b"old"
    assert (shm_dir / "d").read_bytes() == b"new contents"
    assert os.stat(shm_dir / "d").st_ino != old_inode
    assert leftovers(shm_dir) == []


def test_cancel_leaves_nothing_under_each_naming(backend: str, naming: str, shm_dir: Path,
                                                 small_chunk: int) -> None:
    src = write(shm_dir / "s", pattern(10 * small_chunk))
    with pytest.raises(TaskCancelled):
        fileio.copy_file(src, shm_dir / "d", cancel=lambda: True, progress=lambda d, t: None)
    assert sorted(os.listdir(shm_dir)) == ["s"]


def test_enospc_leaves_nothing_under_each_naming(backend: str, naming: str, tmp_path: Path,
                                                 tiny_fs: Path) -> None:
    src = write(tmp_path / "big", pattern(2 * 1024 * 1024))
    with pytest.raises(OSError):
        fileio.copy_file(src, tiny_fs / "big")
    assert list(tiny_fs.iterdir()) == []


def test_destination_folder_missing_is_a_real_error(backend: str, naming: str,
                                                    shm_dir: Path) -> None:
    src = write(shm_dir / "s", b"x")
    with pytest.raises(FileNotFoundError) as info:
        fileio.copy_file(src, shm_dir / "gone" / "d")
    assert info.value.filename2 == str(shm_dir / "gone" / "d")
    assert _backend.naming() == expected(naming, backend)  # not mistaken for "no /proc"


def test_unknown_naming_is_refused() -> None:
    with pytest.raises(Exception, match="TELEBOT_FORCE_NAMING"):
        _backend.force_naming("hardlink")


CHILD = textwrap.dedent("""
    import os, sys
    from telebot import fileio
    from telebot.fileio import _backend
    fileio.force_strategy(sys.argv[1])
    folder = sys.argv[2]
    with open(os.path.join(folder, "s"), "wb") as fh:
        fh.write(b"payload" * 1000)
    fileio.copy_file(os.path.join(folder, "s"), os.path.join(folder, "d"))
    fileio.copy_file(os.path.join(folder, "s"), os.path.join(folder, "d"))  # replace
    print(_backend.naming(), sorted(os.listdir(folder)))
""")


@pytest.mark.parametrize("strategy", ["auto", "python"])
def test_without_proc_falls_back_to_named_temp_files(strategy: str, shm_dir: Path) -> None:
    """The /proc link is the unprivileged way to name an unnamed file; with
    /proc hidden (a private mount namespace, tmpfs over /proc) the process
    lowers itself to named temp files and keeps working."""
    if strategy == "auto" and _backend.NATIVE_MODULE is None:
        pytest.skip("native core not built")
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to hide /proc")
    script = ("mount -t tmpfs none /proc && exec \"$0\" -c \"$1\" \"$2\" \"$3\"")
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
         sys.executable, CHILD, strategy, str(shm_dir)],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), "TELEBOT_FORCE_NAMING": "proc-link"},
    )
    if done.returncode != 0 and "unshare failed" in done.stderr:
        pytest.skip(f"no mount namespaces here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["temp-rename", "['d',", "'s']"]
    assert (shm_dir / "d").read_bytes() == b"payload" * 1000


# linkat(AT_EMPTY_PATH) refused the way kernels before 6.10 refuse it to a
# process without CAP_DAC_READ_SEARCH (ENOENT); every other linkat passes.
REFUSE_EMPTY_PATH = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    static int (*real)(int, const char *, int, const char *, int);
    if (flags & AT_EMPTY_PATH) {
        errno = ENOENT;
        return -1;
    }
    if (!real)
        real = (int (*)(int, const char *, int, const char *, int))dlsym(RTLD_NEXT, "linkat");
    return real(olddirfd, oldpath, newdirfd, newpath, flags);
}
"""


@pytest.mark.parametrize(("hide_proc", "lowered_to"),
                         [(False, "proc-link"), (True, "temp-rename")])
def test_unprivileged_linkat_falls_back(hide_proc: bool, lowered_to: str, shm_dir: Path,
                                        tmp_path: Path) -> None:
    """Without AT_EMPTY_PATH the native core names unnamed files through
    /proc, and without /proc too it goes back to named temp files."""
    if _backend.NATIVE_MODULE is None:
        pytest.skip("native core not built")
    if hide_proc and (shutil.which("unshare") is None or os.geteuid() != 0):
        pytest.skip("needs root and unshare(1) to hide /proc")
    shim = _shim(tmp_path, REFUSE_EMPTY_PATH)
    command = [sys.executable, "-c", CHILD, "auto", str(shm_dir)]
    if hide_proc:
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   "mount -t tmpfs none /proc && exec \"$@\"", "sh", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO), "LD_PRELOAD": str(shim),
                               "TELEBOT_FORCE_NAMING": "linkat"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [lowered_to, "['d',", "'s']"]
    assert (shm_dir / "d").read_bytes() == b"payload" * 1000


# A filesystem without O_TMPFILE (NFS, vfat, older FUSE) answers EOPNOTSUPP.
REFUSE_TMPFILE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
typedef int (*open_fn)(const char *, int, ...);
static int refuse(int flags) { return (flags & O_TMPFILE) == O_TMPFILE; }
#define WRAP(name)                                                  \
    int name(const char *path, int flags, ...)                      \
    {                                                               \
        static open_fn real;                                        \
        va_list ap;                                                 \
        va_start(ap, flags);                                        \
        int mode = va_arg(ap, int);                                 \
        va_end(ap);                                                 \
        if (refuse(flags)) {                                        \
            errno = EOPNOTSUPP;                                     \
            return -1;                                              \
        }                                                           \
        if (!real)                                                  \
            real = (open_fn)dlsym(RTLD_NEXT, #name);                \
        return real(path, flags, mode);                             \
    }
WRAP(open)
WRAP(open64)
"""


def _shim(tmp_path: Path, source: str) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler for the shim")
    (tmp_path / "shim.c").write_text(source)
    shim = tmp_path / "shim.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(shim), str(tmp_path / "shim.c"),
                    "-ldl"], check=True, capture_output=True)
    return shim


# A filesystem that creates unnamed files but will not link them (EPERM).
REFUSE_LINKAT = r"""
#define _GNU_SOURCE
#include <errno.h>
int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    (void)olddirfd; (void)oldpath; (void)newdirfd; (void)newpath; (void)flags;
    errno = EPERM;
    return -1;
}
"""


@pytest.mark.parametrize("refusal", ["no O_TMPFILE", "no link"])
@pytest.mark.parametrize("strategy", ["auto", "python"])
def test_folder_that_refuses_unnamed_files_uses_a_named_temp_for_that_call(
        strategy: str, refusal: str, shm_dir: Path, tmp_path: Path) -> None:
    if strategy == "auto" and _backend.NATIVE_MODULE is None:
        pytest.skip("native core not built")
    shim = _shim(tmp_path, REFUSE_TMPFILE if refusal == "no O_TMPFILE" else REFUSE_LINKAT)
    done = subprocess.run([sys.executable, "-c", CHILD, strategy, str(shm_dir)],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO), "LD_PRELOAD": str(shim)})
    assert done.returncode == 0, done.stderr
    # The process-wide method is not lowered (another folder may support it)
    # and nothing is left behind.
    first = "linkat" if strategy == "auto" else "proc-link"
    assert done.stdout.split() == [first, "['d',", "'s']"]
    assert (shm_dir / "d").read_bytes() == b"payload" * 1000
