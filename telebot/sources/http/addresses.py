"""Which addresses a link may reach: the judgement of the SSRF guard (``netguard.py``),
without the HTTP client under it, so a module that only needs the rules (libtorrent's IP
filter) does not import requests and urllib3 (see :mod:`telebot.sources.http.netguard`)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from telebot.errors import DownloadError, SecurityError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_SCHEMES = ("http", "https")


def is_forbidden_address(ip: IPAddress) -> bool:
    """True for any address that is not a public unicast Internet address.

    IPv6 forms that embed an IPv4 address (v4-mapped ``::ffff:a.b.c.d``, 6to4,
    Teredo) are judged by the embedded address as well, since the kernel or a
    relay may deliver them to it.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:0:0/96 itself is "reserved": judge the v4 part
            return is_forbidden_address(ip.ipv4_mapped)
        embedded = [ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if any(v4 is not None and is_forbidden_address(v4) for v4 in embedded):
            return True
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        # Catches the rest of the IANA special-purpose registry (e.g. 100.64/10 CGNAT).
        or not ip.is_global
    )


# The same judgement as a list of ranges, for filters that take ranges rather than a predicate
# (libtorrent's ip_filter). IANA special-purpose registries, IPv4 and IPv6, plus the IPv4 ranges
# again as v4-mapped and 6to4 forms. tests/sources/test_netguard.py checks every range against
# is_forbidden_address, so the two cannot drift apart silently.
_FORBIDDEN_V4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/29", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)
_FORBIDDEN_V6 = (
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "fc00::/7", "fe80::/10", "ff00::/8",
)


def _embedded_v4_forms(net: str) -> list[ipaddress.IPv6Network]:
    v4 = ipaddress.IPv4Network(net)
    mapped = ipaddress.IPv6Network(f"::ffff:{v4.network_address}/{96 + v4.prefixlen}")
    sixtofour = ipaddress.IPv6Network(
        (int(ipaddress.IPv6Address("2002::")) | (int(v4.network_address) << 80), 16 + v4.prefixlen)
    )
    return [mapped, sixtofour]


FORBIDDEN_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    *(ipaddress.IPv4Network(net) for net in _FORBIDDEN_V4),
    *(ipaddress.IPv6Network(net) for net in _FORBIDDEN_V6),
    *(form for net in _FORBIDDEN_V4 for form in _embedded_v4_forms(net)),
)


def check_address(address: str, host: str) -> None:
    """Raise SecurityError when *address* (an IP literal) is not public; *host* names it."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if is_forbidden_address(ip):
        raise SecurityError(f"refused: {host} points to a private or local address ({ip})")


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse *url* unless it is an http(s) link to a public host.

    Raises SecurityError (scheme, credentials, private address) or
    DownloadError (the host does not resolve). With *allow_private* only the
    scheme and shape checks run.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in _SCHEMES:
        scheme = parts.scheme or "none"
        raise SecurityError(f"refused: only http and https links are supported, not {scheme!r}")
    netloc = parts.netloc
    # "http://public.example@127.0.0.1/" and backslash/whitespace tricks make
    # parsers disagree about which host is meant; credentials go in -au/-ap.
    if "@" in netloc:
        # <user>/<password> are placeholders the redactor keeps ("-au and" read as a user name)
        raise SecurityError(
            "refused: credentials in the link are not accepted; use -au <user> -ap <password>"
        )
    if any(ch in netloc for ch in "\\ \t\r\n") or not parts.hostname:
        raise SecurityError("refused: the link has no valid host name")
    if allow_private:
        return
    host = parts.hostname
    for address in _resolve(host, parts.port or (443 if parts.scheme.lower() == "https" else 80)):
        check_address(address, host)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DownloadError(f"cannot resolve host {host}") from exc
    return sorted({str(info[4][0]) for info in infos})
