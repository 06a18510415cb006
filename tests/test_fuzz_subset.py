"""A small seeded subset of benchmarks/fuzz_inputs.py: mutated real scans (DICOM element lengths and
values, NIfTI header fields, PNG chunks, bit flips, truncations, random bytes) through ingest and through
``POST /v1/enhance`` of a running Serve app, with the benchmark's own checks: no crash, nothing > 5 s,
every refusal typed, and the valid inputs mixed in still processed."""
import pytest

from benchmarks.fuzz_checks import http_round, ingest_round, replica_names, serve_healthy
from benchmarks.fuzz_mutators import ALL_MUTATORS, mutant, mutants
from tests.test_serve_http import AUTH, app  # noqa: F401 — the serve tests' module fixture (one app per module)

N = 60


def test_mutants_are_seeded_and_malformed():
    a, b = list(mutants(40, seed=3)), list(mutants(40, seed=3))
    assert [m.data for m in a] == [m.data for m in b]
    assert mutant(17, seed=3).data == a[17].data  # replayable by index alone
    assert sum(m.valid for m in a) == 2 and all(m.valid or m.mutators for m in a)
    seeds = {m.seed: m.data for m in a if m.valid}
    assert all(m.data != seeds.get(m.seed) for m in a if not m.valid and m.seed in seeds and m.kind != "nifti_gz")
    assert {n for m in mutants(400, seed=3) for n in m.mutators} == set(ALL_MUTATORS)


def test_ingest_survives_mutated_inputs(ray_session, tmp_path):
    batch = list(mutants(N, seed=0, kinds=("dicom", "nifti"), valid_every=10))
    res = ingest_round(batch, tmp_path / "fuzz")
    keys = ("crashes", "untyped", "slow", "valid_missing", "silently_dropped")
    assert {k: res[k] for k in keys if res[k]} == {}
    assert res["n_valid"] == 6 and res["n_slices"] >= 6
    assert res["n_rejected"] >= N // 3, res["reasons"]  # the mutants really were malformed


@pytest.mark.slow  # needs the Serve app (deployed once for this module)
def test_enhance_survives_mutated_inputs(app):  # noqa: F811
    before = replica_names()
    assert before, "no Serve replica actors found"
    batch = list(mutants(N, seed=1, valid_every=10))
    res = http_round(app["url"], batch, headers=AUTH, workers=4, patients=(None, "P-calm", "P-fever"),
                     health_every=20, timeout_s=30)
    keys = ("server_errors", "no_response", "untyped", "slow", "valid_failed", "health_failures")
    assert {k: res[k] for k in keys if res[k]} == {}
    assert res["status"].get("200", 0) >= res["n_valid"] == 6
    assert sum(v for k, v in res["status"].items() if k.startswith("4")) >= N // 3, res["status"]
    assert before <= replica_names(), "a replica died and was replaced"
    assert serve_healthy() == []


def test_one_bomb_of_each_class_is_a_typed_refusal():
    """Issue 18's bomb classes (benchmarks/fuzz_bombs.py), one input each, through the service's codecs and the
    vitals parser: each a typed InputError (HTTP 4xx / dead letter), refused before it costs memory."""
    import time
    from collections import namedtuple

    from benchmarks.fuzz_bombs import IMAGE_BOMBS, VITALS_BOMBS, bomb, vitals_bombs
    from medray.config import InputError
    from medray.serve.codecs import CodecLimits, decode
    from medray.vitals.schema import parse_records

    seen = set()
    for i in range(len(IMAGE_BOMBS)):
        m = bomb(i, seed=0)
        with pytest.raises(InputError) as e:
            decode(m.media_type, m.data, CodecLimits(max_voxels=2**20))
        assert e.value.reason in ("too_large", "corrupt", "bad_geometry", "decode_error"), (m.mutators, e.value)
        seen.add(m.mutators[0])
    assert seen == {f"bomb_{c}" for c in IMAGE_BOMBS}
    rec = namedtuple("rec", "key value")
    hostile = vitals_bombs(2 * len(VITALS_BOMBS), seed=0)
    good, bad = parse_records([rec(b.key, b.value) for b in hostile], time.time() + 300)
    assert good == [] and len(bad) == len(hostile) and all(e.reason for _, e in bad)
    assert {b.cls for b in hostile} == set(VITALS_BOMBS)
