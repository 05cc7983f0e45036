"""The TLS context of the bot's Bot API clients, made once and off the start-up's main thread.

PTB builds two httpx clients (its requests and the getUpdates long poll) and httpx gives each
its own context, loading the CA bundle each time: ~25 ms apiece before the first getUpdates.
app.py makes this one in its start-up thread, while the main thread imports PTB (loading the
bundle releases the GIL), and both clients share it: an SSLContext is safe to share.

It is httpx's default, ``httpx.create_ssl_context()`` of httpx 0.28, written out because this
module must not import httpx: that thread would import httpcore without the trio guard of
app.py (``_import_httpcore_without_trio``).
"""

from __future__ import annotations

import os
import ssl


def client_context() -> ssl.SSLContext:
    """What httpx verifies with by default: SSL_CERT_FILE or SSL_CERT_DIR when set (httpx
    trusts the environment by default), else certifi's bundle."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())
