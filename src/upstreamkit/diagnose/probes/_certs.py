"""What a leaf certificate says (cryptography's side of the tls phase), and RFC 6125 host name matching.

Kept apart from :mod:`upstreamkit.diagnose.probes.tls`, which imports it only after a handshake, so that
``cryptography`` is loaded only when a certificate is really inspected (not for http:// URLs).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from upstreamkit.diagnose.probes._net import is_ip_literal

__all__ = ["Certificate", "hostname_matches", "inspect_certificate"]


@dataclass(frozen=True, slots=True)
class Certificate:
    """What a leaf certificate says, as the phase reports it."""

    subject: str
    issuer: str
    issuer_name: str
    """The issuer's common name (or organisation): short enough for one line."""
    dns_names: list[str]
    ip_addresses: list[str]
    not_before: dt.datetime
    not_after: dt.datetime
    self_signed: bool

    @property
    def sans(self) -> list[str]:
        """DNS names, then IP addresses."""
        return [*self.dns_names, *self.ip_addresses]


def inspect_certificate(der: bytes) -> Certificate:
    """Read a DER certificate: names, validity (UTC), and whether it signed itself."""
    cert = x509.load_der_x509_certificate(der)
    try:
        alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = [str(name) for name in alternative.get_values_for_type(x509.DNSName)]
        ip_addresses = [str(ip) for ip in alternative.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns_names, ip_addresses = [], []
    return Certificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        issuer_name=_short_name(cert.issuer),
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        self_signed=_self_signed(cert),
    )


def _short_name(name: x509.Name) -> str:
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attributes = name.get_attributes_for_oid(oid)
        if attributes:
            return str(attributes[0].value)
    return name.rfc4514_string() or "(empty name)"


def _self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject and the signature verifies with the certificate's own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def hostname_matches(host: str, dns_names: list[str], ip_addresses: list[str]) -> bool:
    """Whether ``host`` is covered by the SANs, per RFC 6125.

    An IP host matches IP SANs only. A wildcard stands for exactly one whole left-most label
    (``*.example.com`` covers ``api.example.com``, not ``example.com`` or ``a.b.example.com``) and needs two
    labels after it. The subject's CN is not consulted, as current browsers and OpenSSL clients do not.
    """
    wanted = host.lower().rstrip(".")
    if is_ip_literal(wanted):
        address = ipaddress.ip_address(wanted.strip("[]"))
        return any(ipaddress.ip_address(ip) == address for ip in ip_addresses)
    head, _, rest = wanted.partition(".")
    for pattern in (name.lower().rstrip(".") for name in dns_names):
        if pattern == wanted:
            return True
        suffix = pattern.removeprefix("*.")
        if pattern.startswith("*.") and "*" not in suffix and "." in suffix and head and rest == suffix:
            return True
    return False
