"""Kafka client security (SASL and/or TLS) for the vitals consumer and simulator, as kafka-python settings.

SASL with TLS (``SASL_SSL``) is what a real deployment wants: Strimzi's SCRAM-SHA-512 users on a TLS listener.
SASL without ``--ssl-cafile`` is ``SASL_PLAINTEXT`` (credentials and vitals cross the network in clear: only for
a trusted network), TLS alone is ``SSL``. The password is read from a file (a mounted Secret), never a flag, so
it stays out of ``ps`` and shell history.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medray.config import ConfigError, check_choice

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None

    def __post_init__(self):
        if self.sasl_mechanism is not None:
            check_choice("sasl_mechanism", self.sasl_mechanism, SASL_MECHANISMS)
            if not self.sasl_username or self.sasl_password_file is None:
                raise ConfigError(f"sasl_mechanism={self.sasl_mechanism!r} needs sasl_username and "
                                  "sasl_password_file")
        elif self.sasl_username or self.sasl_password_file is not None:
            raise ConfigError(f"sasl_username/sasl_password_file need sasl_mechanism, one of {list(SASL_MECHANISMS)}")
        for name in ("sasl_password_file", "ssl_cafile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{name}={str(path)!r} does not exist")

    @property
    def protocol(self) -> str:
        sasl, tls = self.sasl_mechanism is not None, self.ssl_cafile is not None
        return {(False, False): "PLAINTEXT", (False, True): "SSL", (True, False): "SASL_PLAINTEXT",
                (True, True): "SASL_SSL"}[(sasl, tls)]

    def client_options(self) -> dict:
        """Keyword arguments for KafkaConsumer / KafkaProducer (empty for plaintext)."""
        opts: dict = {}
        if self.protocol != "PLAINTEXT":
            opts["security_protocol"] = self.protocol
        if self.ssl_cafile is not None:
            opts["ssl_cafile"] = str(self.ssl_cafile)
        if self.sasl_mechanism is not None:
            password = Path(self.sasl_password_file).read_text().rstrip("\r\n")
            if not password:
                raise ConfigError(f"sasl_password_file={str(self.sasl_password_file)!r} is empty")
            opts.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                        sasl_plain_password=password)
        return opts


def add_arguments(parser) -> None:
    """The security flags, shared by every command that talks to Kafka."""
    parser.add_argument("--sasl-mechanism", choices=SASL_MECHANISMS, help="SASL mechanism (e.g. SCRAM-SHA-512)")
    parser.add_argument("--sasl-username")
    parser.add_argument("--sasl-password-file", type=Path, help="file holding the SASL password")
    parser.add_argument("--ssl-cafile", type=Path, help="CA bundle (PEM) to verify the brokers; enables TLS")


def from_args(args) -> KafkaSecurity:
    return KafkaSecurity(args.sasl_mechanism, args.sasl_username, args.sasl_password_file, args.ssl_cafile)
