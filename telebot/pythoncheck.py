"""Is this Python one whose ``tarfile`` has the 2025 extraction fixes? (issue 21)

telebot extracts untrusted tar archives. CPython releases before the ones below let a crafted
archive bypass the ``filter="data"`` extraction filter (symlinks and hard links pointing out
of the destination: gh-135034) or loop forever on a negative member offset. The bot's own
checks and the sandbox still stand in front of ``tarfile``; the warning says that one layer
is weaker than it should be, and what to upgrade to. Imports nothing from telebot.

Sources: the CVE records of the PSF (cve.org) and CPython's changelog.
"""

from __future__ import annotations

import sys

__all__ = ["FIXED_IN", "tarfile_warning"]

# gh-135034: CVE-2024-12718, CVE-2025-4138, CVE-2025-4330, CVE-2025-4435, CVE-2025-4517
# (the extraction-filter bypasses), fixed in 3.9.23, 3.10.18, 3.11.13, 3.12.11, 3.13.4.
_FILTER_CVES = "CVE-2025-4517, CVE-2025-4330, CVE-2025-4138, CVE-2025-4435, CVE-2024-12718"
# gh-130577: CVE-2025-8194 (a negative member offset loops forever), fixed in 3.9.24, 3.10.19,
# 3.11.14, 3.12.12, 3.13.6. (CVE-2025-6069, fixed alongside, is HTMLParser's, not tarfile's.)
_OFFSET_CVE = "CVE-2025-8194"

#: (major, minor) → [(first fixed micro, the CVEs it fixed)]. 3.14.0 final has all the fixes.
FIXED_IN: dict[tuple[int, int], list[tuple[int, str]]] = {
    (3, 9): [(23, _FILTER_CVES), (24, _OFFSET_CVE)],
    (3, 10): [(18, _FILTER_CVES), (19, _OFFSET_CVE)],
    (3, 11): [(13, _FILTER_CVES), (14, _OFFSET_CVE)],
    (3, 12): [(11, _FILTER_CVES), (12, _OFFSET_CVE)],
    (3, 13): [(4, _FILTER_CVES), (6, _OFFSET_CVE)],
}


def tarfile_warning(version: tuple[int, ...] | None = None) -> str | None:
    """The start-up WARNING line for ``version`` (default: this Python), or None when its
    ``tarfile`` has every fix listed in :data:`FIXED_IN`."""
    info = sys.version_info  # read at each call: a test patches it
    major, minor, micro = version[:3] if version else (info[0], info[1], info[2])
    fixes = FIXED_IN.get((major, minor))
    if fixes is None:
        if (major, minor) < (3, 9):
            return (
                f"Python {major}.{minor}.{micro} gets no security fixes: its tarfile "
                f"lacks the fixes for {_FILTER_CVES}, {_OFFSET_CVE}; use 3.12 or 3.13"
            )
        return None  # 3.14 and later: released with the fixes
    missing = [cves for fixed, cves in fixes if micro < fixed]
    if not missing:
        return None
    wanted = f"{major}.{minor}.{fixes[-1][0]}"
    return (
        f"Python {major}.{minor}.{micro} has tarfile flaws fixed in later releases "
        f"({', '.join(missing)}): archives are still checked by telebot, but upgrade to "
        f"{wanted} or later (or a current 3.12/3.13)"
    )
