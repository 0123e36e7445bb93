"""TLS for the HTTPS/WSS listener: the configured certificate, or a
self-signed one for 127.0.0.1/localhost (IP and DNS SANs, so clients that
verify hostnames accept it once they trust the file, e.g. via SSL_CERT_FILE).

Needs the `cryptography` package only when a certificate must be generated.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile
from pathlib import Path
from typing import Any

CERT_NAME = "kraken-sim-cert.pem"
KEY_NAME = "kraken-sim-key.pem"
VALID_DAYS = 825


def ensure_certificate(settings: Any) -> tuple[str, str]:
    """(cert_path, key_path): `settings.cert`/`settings.key` if given, else a
    self-signed pair in `settings.state_dir` (or a fresh temp dir), reused
    while it is still valid."""
    cert = getattr(settings, "cert", None)
    key = getattr(settings, "key", None)
    if cert or key:
        if not (cert and key):
            raise ValueError("--cert and --key must be given together")
        for p in (cert, key):
            if not Path(p).is_file():
                raise FileNotFoundError(p)
        return str(cert), str(key)
    state_dir = getattr(settings, "state_dir", None)
    directory = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="kraken-sim-tls-"))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if cert_path.is_file() and key_path.is_file() and _still_valid(cert_path):
        return str(cert_path), str(key_path)
    cert_pem, key_pem = generate_self_signed(getattr(settings, "host", "127.0.0.1"))
    cert_path.write_bytes(cert_pem)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    return str(cert_path), str(key_path)


def _still_valid(cert_path: Path) -> bool:
    try:
        from cryptography import x509

        c = x509.load_pem_x509_certificate(cert_path.read_bytes())
        return c.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    except Exception:  # noqa: BLE001 - unreadable: make a new one
        return False


def generate_self_signed(host: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """A self-signed ECDSA P-256 certificate (PEM) and its key (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "kraken-sim"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kraken-sim"),
        ]
    )
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        ip = ipaddress.ip_address(host)
        if x509.IPAddress(ip) not in sans and not ip.is_unspecified:
            sans.append(x509.IPAddress(ip))
    except ValueError:
        if host and host != "localhost":
            sans.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert_pem, key_pem
