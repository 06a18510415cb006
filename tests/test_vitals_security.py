"""Kafka SASL/TLS options: validated at the edge, handed to kafka-python as its own settings."""
import pytest

from medray.cli import build_parser
from medray.config import ConfigError
from medray.vitals.security import KafkaSecurity, from_args


def test_scram_over_tls_from_the_command_line(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    args = build_parser().parse_args(["vitals-sim", "--bootstrap", "k:9093", "--format", "fhir",
                                      "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", "medray",
                                      "--sasl-password-file", str(tmp_path / "pw"),
                                      "--ssl-cafile", str(tmp_path / "ca.pem")])
    assert args.format == "fhir"
    assert from_args(args).client_options() == {
        "security_protocol": "SASL_SSL", "ssl_cafile": str(tmp_path / "ca.pem"), "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "medray", "sasl_plain_password": "s3cret"}


def test_plaintext_by_default_and_tls_alone():
    assert KafkaSecurity().client_options() == {}


@pytest.mark.parametrize("kwargs, needle", [
    ({"sasl_mechanism": "SCRAM-SHA-1", "sasl_username": "u", "sasl_password_file": "pw"}, "SCRAM-SHA-512"),
    ({"sasl_mechanism": "SCRAM-SHA-512"}, "sasl_username"),
    ({"sasl_username": "u"}, "sasl_mechanism"),
    ({"ssl_cafile": "/nonexistent/ca.pem"}, "ssl_cafile"),
])
def test_bad_security_options_name_the_option(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        KafkaSecurity(**kwargs)
