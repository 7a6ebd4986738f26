"""TLS for the simulator: a local CA and leaf certificates with the problems production certificates have.

Variants (:class:`TLSVariant`):

- ``valid`` — issued by the simulator's CA for ``localhost``, ``127.0.0.1`` and ``::1``;
- ``expired`` — same names, ``notAfter`` a day ago;
- ``not-yet-valid`` — same names, ``notBefore`` a day ahead;
- ``hostname-mismatch`` — valid dates, issued for ``upstream.invalid`` only;
- ``self-signed`` — valid dates and names, signed by its own key, so no trusted CA vouches for it.

The CA certificate is written to a directory (:class:`TLSMaterial.ca_file`) that a client can trust, e.g.
``httpx.Client(verify=ssl.create_default_context(cafile=material.ca_file))``. Keys are EC P-256 (fast to
make) and generated once per process (:func:`functools.cache`), so tests start TLS servers in milliseconds.
Certificate dates are wall-clock dates: OpenSSL checks them against the real time, so the simulator's
injectable clock does not apply here.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import ssl
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TLSMaterial", "TLSVariant", "make_tls_material", "parse_tls_variant"]


class TLSVariant(StrEnum):
    """Which certificate the simulator presents."""

    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    HOSTNAME_MISMATCH = "hostname-mismatch"
    SELF_SIGNED = "self-signed"


_ALIASES = {"mismatch": TLSVariant.HOSTNAME_MISMATCH, "untrusted": TLSVariant.SELF_SIGNED}


def parse_tls_variant(text: str) -> TLSVariant:
    """A variant from its name or an alias (``mismatch``, ``untrusted``); ValueError listing the valid ones."""
    value = text.strip().lower()
    if value in _ALIASES:
        return _ALIASES[value]
    try:
        return TLSVariant(value)
    except ValueError:
        valid = ", ".join([*(variant.value for variant in TLSVariant), *_ALIASES])
        raise ValueError(f"unknown TLS variant {text!r}; valid: {valid}") from None


@dataclass(frozen=True, slots=True)
class TLSMaterial:
    """Files for one TLS variant: the server's certificate and key, and the CA file a client can trust."""

    variant: TLSVariant
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """The server side: presents the variant's certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        context.set_alpn_protocols(["http/1.1"])
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the simulator's CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


_GOOD_NAMES: tuple[x509.GeneralName, ...] = (
    x509.DNSName("localhost"),
    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
    x509.IPAddress(ipaddress.IPv6Address("::1")),
)
_WRONG_NAMES: tuple[x509.GeneralName, ...] = (x509.DNSName("upstream.invalid"),)


@functools.cache
def _key(purpose: str) -> ec.EllipticCurvePrivateKey:
    """One EC P-256 key per purpose per process (``purpose`` only keys the cache)."""
    del purpose
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "upstreamkit simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@functools.cache
def _ca() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key("ca")
    now = dt.datetime.now(dt.UTC)
    name = _name("upstreamkit simulator local CA")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


@functools.cache
def _leaf(variant: TLSVariant) -> tuple[bytes, bytes]:
    """PEM certificate and PEM key for a variant, made once per process."""
    key = _key("leaf")
    now = dt.datetime.now(dt.UTC)
    not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
    if variant is TLSVariant.EXPIRED:
        not_before, not_after = now - dt.timedelta(days=30), now - dt.timedelta(days=1)
    elif variant is TLSVariant.NOT_YET_VALID:
        not_before, not_after = now + dt.timedelta(days=1), now + dt.timedelta(days=30)
    names = _WRONG_NAMES if variant is TLSVariant.HOSTNAME_MISMATCH else _GOOD_NAMES
    subject = _name("upstream.invalid" if variant is TLSVariant.HOSTNAME_MISMATCH else "localhost")
    if variant is TLSVariant.SELF_SIGNED:
        issuer_name, signing_key = subject, key
        authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())
    else:
        ca_certificate, signing_key = _ca()
        issuer_name = ca_certificate.subject
        authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(authority, critical=False)
        .sign(signing_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def make_tls_material(variant: TLSVariant | str, directory: Path) -> TLSMaterial:
    """Write the CA file and the variant's certificate and key into ``directory`` (which must exist)."""
    chosen = parse_tls_variant(variant) if isinstance(variant, str) else variant
    ca_certificate, _ = _ca()
    cert_pem, key_pem = _leaf(chosen)
    ca_file = directory / "upstreamkit-sim-ca.pem"
    cert_file = directory / f"server-{chosen.value}.pem"
    key_file = directory / f"server-{chosen.value}.key"
    ca_file.write_bytes(ca_certificate.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    key_file.chmod(0o600)
    return TLSMaterial(variant=chosen, ca_file=ca_file, cert_file=cert_file, key_file=key_file)
