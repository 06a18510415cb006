"""The command-line contract of DESIGN.md: every sub-command exists and has --help; bad flags are refused."""
import subprocess
import sys

import pytest

from medray.cli import build_parser, main

SUBCOMMANDS = ["demo", "demo-data", "ingest", "models", "train", "eval", "tune", "broker", "vitals-sim", "serve"]


def test_top_level_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "medray.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS + ["models summary"])
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main(name.split() + ["--help"])
    assert e.value.code == 0
    assert "usage: medray" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ingest", "x", "--out", "o", "--scales", "3"], "valid scales are 2 and 4"),
        (["train", "--shards", "s", "--model", "srgan", "--name", "n", "--storage", "s"],
             "model='srgan' is not valid; choose one of ['iotgan', 'baseline', 'pixmed']"),
        (["demo-data", "--out", "o", "--patients", "0"], "must be ≥ 1"),
    ],
)
def test_bad_flags_are_refused_with_the_valid_values(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
