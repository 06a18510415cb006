"""The edge validation helpers every package uses: errors name the bad value and the valid ones."""
import dataclasses
import enum

import pytest

from medray.config import ConfigError, check_choice, check_range, from_dict, load_yaml, parse_enum, to_dict


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Inner:
    k: int = 1


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = "x"
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = dataclasses.field(default_factory=Inner)
    colour: Colour = Colour.RED


def test_check_choice_names_value_and_valid_ones():
    assert check_choice("scale", 2, [2, 4]) == 2
    with pytest.raises(ConfigError, match=r"scale=3 .*\[2, 4\]"):
        check_choice("scale", 3, [2, 4])


def test_check_range():
    assert check_range("alpha", 0.5, 0, 1) == 0.5
    with pytest.raises(ConfigError, match="alpha=1.5"):
        check_range("alpha", 1.5, 0, 1)
    with pytest.raises(ConfigError, match="must be a number"):
        check_range("alpha", "a", 0, 1)


def test_parse_enum_by_value_or_name():
    assert parse_enum(Colour, "colour", "blue") is Colour.BLUE
    assert parse_enum(Colour, "colour", "RED") is Colour.RED
    with pytest.raises(ConfigError, match=r"'green'.*\['red', 'blue'\]"):
        parse_enum(Colour, "colour", "green")


def test_from_dict_nested_and_unknown_keys():
    o = from_dict(Outer, {"name": "y", "sizes": [3, 4], "inner": {"k": 5}})
    assert o == Outer(name="y", sizes=(3, 4), inner=Inner(k=5))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['bogus'\].*valid keys"):
        from_dict(Outer, {"bogus": 1})
    with pytest.raises(ConfigError, match=r"inner: unknown key\(s\) \['j'\]"):
        from_dict(Outer, {"inner": {"j": 1}})


def test_to_dict_round_trips_enums_and_tuples():
    d = to_dict(Outer(colour=Colour.BLUE))
    assert d == {"name": "x", "sizes": [1, 2], "inner": {"k": 1}, "colour": "blue"}


def test_load_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(bad)
    good = tmp_path / "good.yaml"
    good.write_text("a: 1\n")
    assert load_yaml(good) == {"a": 1}
