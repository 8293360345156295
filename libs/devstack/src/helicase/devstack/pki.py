"""The local suite's certificate authority: a CA and one certificate per component under a
directory (`.helicase/pki` for `make up`, the test harness's own home otherwise), made with
`cryptography` and reused while valid.

Files: `ca.crt`/`ca.key`, and per component `<kind>-<name>.crt`/`.key` (a participant's:
`participant-<group>-<name>`). Keys are EC P-256, written 0600. What a certificate names is
helicase.common.tls's contract (the `helicase://` URI, the `<kind>.helicase.internal` DNS name).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from helicase.common.config import TLS_CA, TLS_CERT, TLS_KEY, host_name
from helicase.common.tls import KINDS, Identity, TlsFiles, identity_of_pem

CA_DAYS = 3650
LEAF_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=7)


_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    path.chmod(0o600)


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - RENEW_BEFORE > _now() >= cert.not_valid_before_utc


def _load(cert_path: Path, key_path: Path) -> x509.Certificate | None:
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return None
    return cert if _fresh(cert) else None


def _ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    cert = _load(cert_path, key_path)
    if cert is not None:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Helicase local CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _stem(identity: Identity) -> str:
    if identity.kind == "participant":
        return f"participant-{identity.group}-{identity.name}"
    return f"{identity.kind}-{identity.name}"


def _valid_leaf(files: TlsFiles, ca: x509.Certificate, identity: Identity) -> bool:
    cert = _load(files.cert, files.key)
    if cert is None or cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return identity_of_pem(files.cert.read_bytes()) == identity


def issue(directory: Path, identity: Identity) -> TlsFiles:
    """The CA and `identity`'s certificate and key under `directory`, made when missing, expiring
    or not signed by the CA there; reused otherwise."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ca, ca_key = _ca(directory)
    stem = _stem(identity)
    files = TlsFiles(directory / "ca.crt", directory / f"{stem}.crt", directory / f"{stem}.key")
    if _valid_leaf(files, ca, identity):
        return files
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(identity.uri),
        x509.DNSName(identity.dns_name),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.kind),
            x509.NameAttribute(NameOID.COMMON_NAME, identity.name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(files.key, key)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def tls_env(files: TlsFiles) -> dict[str, str]:
    """The environment that gives a process these files (HELICASE_TLS_CA/CERT/KEY)."""
    return {
        TLS_CA.name: str(files.ca),
        TLS_CERT.name: str(files.cert),
        TLS_KEY.name: str(files.key),
    }


def identity_of_service(module: str, name: str, env: Mapping[str, str]) -> Identity | None:
    """The identity a `python -m <module>` process named `name` (in the supervisor) runs as,
    with `env` its environment: the kind from the module (`helicase.controller.poisoned` is a
    controller), a participant's name and group from its settings; None for anything else."""
    parts = module.split(".")
    kind = parts[1] if len(parts) > 1 and parts[0] == "helicase" else ""
    if kind not in KINDS:
        return None
    if kind == "participant":
        participant = env.get("HELICASE_PARTICIPANT_NAME") or host_name()
        return Identity(kind, participant, env.get("HELICASE_PARTICIPANT_GROUP") or "default")
    return Identity(kind, name)
