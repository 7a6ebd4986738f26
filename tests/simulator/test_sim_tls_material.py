"""Certificates the simulator makes: dates, names, issuer, and the per-process cache."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from upstreamkit.simulator import TLSVariant, parse_tls_variant
from upstreamkit.simulator.tls import make_tls_material


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.mark.parametrize("variant", list(TLSVariant))
def test_each_variant_has_its_problem(tmp_path: Path, variant: TLSVariant) -> None:
    material = make_tls_material(variant, tmp_path)
    certificate, ca = _load(material.cert_file), _load(material.ca_file)
    now = dt.datetime.now(dt.UTC)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns_names = names.get_values_for_type(x509.DNSName)
    valid_now = certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
    assert valid_now is (variant not in (TLSVariant.EXPIRED, TLSVariant.NOT_YET_VALID))
    assert ("localhost" in dns_names) is (variant is not TLSVariant.HOSTNAME_MISMATCH)
    assert (certificate.issuer == ca.subject) is (variant is not TLSVariant.SELF_SIGNED)
    assert material.key_file.stat().st_mode & 0o077 == 0
    material.server_context()


def test_keys_are_cached_per_process(tmp_path: Path) -> None:
    first = make_tls_material("valid", tmp_path / "a" if (tmp_path / "a").mkdir() is None else tmp_path)
    second = make_tls_material("valid", tmp_path / "b" if (tmp_path / "b").mkdir() is None else tmp_path)
    assert first.cert_file.read_bytes() == second.cert_file.read_bytes()


def test_variant_names_and_aliases() -> None:
    assert parse_tls_variant("mismatch") is TLSVariant.HOSTNAME_MISMATCH
    assert parse_tls_variant("untrusted") is TLSVariant.SELF_SIGNED
    assert parse_tls_variant("Expired") is TLSVariant.EXPIRED
    with pytest.raises(ValueError, match="valid: valid, expired"):
        parse_tls_variant("bogus")


def test_the_cli_help_names_every_variant() -> None:
    from upstreamkit.cli.simulate import TLS_VARIANTS  # noqa: PLC0415 - the CLI's copy, kept to avoid an import

    assert TLS_VARIANTS.split(", ") == [variant.value for variant in TLSVariant]
