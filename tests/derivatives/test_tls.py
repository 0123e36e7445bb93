"""The HTTPS/WSS certificate: generated self-signed for 127.0.0.1/localhost
(IP and DNS SANs) and reused, or the configured pair."""

from __future__ import annotations

import ipaddress
import ssl
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509

from simulator.pytest_plugin import KrakenVenue
from simulator.server.tls import ensure_certificate


def test_generated_certificate_has_ip_and_dns_sans(tmp_path: Path) -> None:
    settings = SimpleNamespace(cert=None, key=None, state_dir=str(tmp_path), host="127.0.0.1")
    cert, key = ensure_certificate(settings)
    c = x509.load_pem_x509_certificate(Path(cert).read_bytes())
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert Path(key).stat().st_mode & 0o077 == 0  # private key not world-readable
    pem = Path(cert).read_bytes()
    assert ensure_certificate(settings) == (cert, key)  # reused while valid
    assert Path(cert).read_bytes() == pem  # not rewritten
    given = SimpleNamespace(cert=cert, key=key, state_dir=None, host="127.0.0.1")
    assert ensure_certificate(given) == (cert, key)
    with pytest.raises(ValueError):
        ensure_certificate(SimpleNamespace(cert=cert, key=None, state_dir=None, host="127.0.0.1"))


def test_https_with_the_reported_ca(tls_venue: KrakenVenue) -> None:
    assert tls_venue.tls is not None
    ctx = ssl.create_default_context(cafile=tls_venue.tls["ca_cert"])
    url = tls_venue.tls["futures_rest"] + "/derivatives/api/v3/instruments"
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        assert r.status == 200 and b'"PF_XBTUSD"' in r.read()
