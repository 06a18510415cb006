"""Patient-level split and pseudonymisation."""
import pytest

from medray.config import ConfigError
from medray.ingest.deid import pseudonym, resolve_salt
from medray.ingest.split import assign_splits, split_stratum


def test_split_fractions_non_empty_and_deterministic():
    patients = [f"p{i}" for i in range(20)]
    a = split_stratum(patients, seed=1)
    assert a == split_stratum(list(reversed(patients)), seed=1)  # order of discovery does not matter
    counts = {s: sum(v == s for v in a.values()) for s in ("train", "val", "test")}
    assert counts == {"train": 14, "val": 3, "test": 3}
    assert a != split_stratum(patients, seed=2)
    for n in (3, 4, 5):
        assert set(split_stratum(patients[:n], seed=0).values()) == {"train", "val", "test"}
    assert set(split_stratum(["a"], 0).values()) == {"train"}


def test_split_is_per_patient_across_strata():
    strata = {f"b{i}": "brats" for i in range(4)} | {f"d{i}": "dicom-CT" for i in range(3)}
    s = assign_splits(strata, seed=0)
    assert set(s) == set(strata)  # one split per patient: disjoint by construction
    for stratum in ("brats", "dicom-CT"):
        assert {v for p, v in s.items() if strata[p] == stratum} == {"train", "val", "test"}


def test_resolve_salt_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDRAY_SALT", raising=False)
    with pytest.raises(ConfigError, match="no pseudonymisation salt"):  # never the public demo salt by default
        resolve_salt(None, None)
    monkeypatch.setenv("MEDRAY_SALT", "from-env")
    assert resolve_salt(None, None) == "from-env"
    assert resolve_salt("explicit", None) == "explicit"
    f = tmp_path / "salt.txt"
    f.write_text("from-file\n")
    assert resolve_salt(None, f) == "from-file"
    f.write_text("  \n")
    with pytest.raises(ConfigError, match="empty"):
        resolve_salt(None, f)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_salt(None, tmp_path / "missing")
    with pytest.raises(ConfigError):
        resolve_salt("", None)


def test_pseudonyms_are_salted_and_stable():
    a = pseudonym("s1", "patient", "1CT1")
    assert a == pseudonym("s1", "patient", "1CT1") and a.startswith("p") and len(a) == 17
    assert a != pseudonym("s2", "patient", "1CT1")
    assert a[1:] != pseudonym("s1", "series", "1CT1")[1:]
    assert "1CT1" not in a
