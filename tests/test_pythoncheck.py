"""The start-up warning about a Python whose tarfile lacks the 2025 fixes (issue 21)."""

from __future__ import annotations

import sys
from unittest import mock

import pytest

from telebot.pythoncheck import tarfile_warning


@pytest.mark.parametrize(
    ("version", "names"),
    [
        ((3, 11, 7), ("CVE-2025-4517", "CVE-2025-8194", "3.11.14")),  # the Dockerfile's old pin
        ((3, 11, 13), ("CVE-2025-8194",)),
        ((3, 12, 10), ("CVE-2025-4517", "CVE-2025-4330", "CVE-2025-4138", "CVE-2025-4435")),
        ((3, 13, 3), ("CVE-2025-4517", "3.13.6")),
        ((3, 13, 5), ("CVE-2025-8194",)),
        ((3, 8, 20), ("no security fixes",)),
    ],
)
def test_an_unfixed_python_gets_one_line_naming_what_it_lacks(
    version: tuple[int, int, int], names: tuple[str, ...]
) -> None:
    with mock.patch.object(sys, "version_info", (*version, "final", 0)):
        line = tarfile_warning()
    assert line is not None and "\n" not in line
    assert all(name in line for name in names), line
    if version[:3] == (3, 11, 13):
        assert "CVE-2025-4517" not in line


@pytest.mark.parametrize("version", [(3, 11, 14), (3, 12, 12), (3, 13, 6), (3, 13, 11), (3, 14, 0)])
def test_a_fixed_python_gets_no_warning(version: tuple[int, int, int]) -> None:
    with mock.patch.object(sys, "version_info", (*version, "final", 0)):
        assert tarfile_warning() is None
