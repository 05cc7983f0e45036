"""tlscontext: the Bot API clients' shared TLS context is the one httpx would make itself."""

from __future__ import annotations

from pathlib import Path

import certifi
import httpx
import pytest

from telebot.tlscontext import client_context


@pytest.fixture(autouse=True)
def no_cert_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def test_it_trusts_what_httpx_trusts_by_default() -> None:
    ours = client_context()
    assert ours.get_ca_certs() == httpx.create_ssl_context().get_ca_certs()
    assert len(ours.get_ca_certs()) > 50  # certifi's bundle, not an empty store
    assert ours.check_hostname


def test_ssl_cert_file_wins_as_in_httpx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    one = tmp_path / "one.pem"
    bundle = Path(certifi.where()).read_text()
    one.write_text(bundle[: bundle.index("-----END CERTIFICATE-----") + 26])
    monkeypatch.setenv("SSL_CERT_FILE", str(one))
    assert len(client_context().get_ca_certs()) == 1
    assert client_context().get_ca_certs() == httpx.create_ssl_context().get_ca_certs()
