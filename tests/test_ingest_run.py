"""End to end on the demo data (tiny_shards): splits, masks, vitals, manifest, plain-pyarrow readability,
split disjointness by patient, determinism."""
import json
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from medray.shards import layout
from medray.ingest.run import run_ingest
from medray.shards.schema import BRATS_CHANNELS, SCHEMA, SCHEMA_VERSION, decode_image, decode_mask


def _table(out) -> pa.Table:
    files = layout.shard_files(out)
    assert files and all(f.parent.name == layout.SHARDS for f in files)
    return pa.concat_tables([pq.read_table(f) for f in files])  # plain pyarrow, no Ray


def test_tiny_shards_content(tiny_shards):
    t = _table(tiny_shards)
    assert t.schema.equals(SCHEMA, check_metadata=False)
    assert (tiny_shards / "rejects.jsonl").read_text() == ""  # the demo data is all usable
    rows = t.drop_columns(["hr", "lr_x2", "lr_x4"]).to_pylist()
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    brats = [r for r in rows if r["source_format"] == "brats"]
    dicom = [r for r in rows if r["source_format"] == "dicom"]
    assert brats and dicom
    assert all(r["n_channels"] == 4 and r["channels"] == ",".join(BRATS_CHANNELS) and r["mask"] is not None
               for r in brats)
    assert all(r["n_channels"] == 1 and r["mask"] is None for r in dicom)
    assert {r["modality"] for r in dicom} == {"CT", "MR"}
    labels = set(np.unique(np.concatenate([decode_mask(r["mask"]).ravel() for r in brats])).tolist())
    assert labels <= {0, 1, 2, 4} and labels & {1, 2, 4}  # the synthetic tumours survive as labels
    first = t.slice(0, 1).to_pylist()[0]
    hr = decode_image(first["hr"], first["n_channels"], 256)
    lr = decode_image(first["lr_x4"], first["n_channels"], 64)
    assert 0 <= hr.min() and hr.max() <= 1 and hr.max() > 0.5 and lr.shape[-1] == 64
    assert all(r["schema_version"] == SCHEMA_VERSION for r in rows)


def test_split_disjoint_by_patient_and_manifest_counts(tiny_shards):
    rows = _table(tiny_shards).select(["patient_id", "split", "modality"]).to_pylist()
    splits_of = defaultdict(set)
    for r in rows:
        splits_of[r["patient_id"]].add(r["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    m = json.loads((tiny_shards / "manifest.json").read_text())
    assert m["schema_version"] == SCHEMA_VERSION and m["counts"]["n_slices"] == len(rows)
    for split in ("train", "val", "test"):
        assert m["counts"]["slices_by_split"][split] == sum(r["split"] == split for r in rows) > 0
    assert m["parameters"]["slice_step"] == 3 and m["parameters"]["vitals_given"] is True


def test_vitals_pseudonymised_joined_and_shaping_degradation(tiny_shards, demo_data_dir):
    vit = pq.read_table(tiny_shards / "vitals.parquet").to_pylist()
    raw_ids = [line.split(",")[0] for line in (demo_data_dir / "vitals.csv").read_text().splitlines()[1:]]
    assert len(vit) == len(raw_ids) and not {v["patient_id"] for v in vit} & set(raw_ids)
    by_pid = {v["patient_id"]: v for v in vit}
    rows = _table(tiny_shards).select(["patient_id", "source_format", "heart_rate", "mobility", "degradation"]).to_pylist()
    brats = [r for r in rows if r["source_format"] == "brats"]
    assert {r["patient_id"] for r in brats} <= set(by_pid)
    for r in brats:
        assert r["heart_rate"] == by_pid[r["patient_id"]]["heart_rate"]
        d = json.loads(r["degradation"])["x2"]
        assert d["motion_px"] == 1 + round(12 * r["mobility"])


def test_same_seed_same_shards(ray_session, demo_data_dir, tmp_path):
    src = [demo_data_dir / "brats" / "DEMO-0001", demo_data_dir / "dicom"]
    kw = dict(scales=(2, 4), seed=5, salt="s", vitals=demo_data_dir / "vitals.csv", slice_step=9)
    tables = []
    for name in ("a", "b"):
        run_ingest(src, tmp_path / name, **kw)
        tables.append(_table(tmp_path / name).sort_by([("series_id", "ascending"), ("slice_index", "ascending")]))
    assert tables[0].num_rows > 0 and tables[0].equals(tables[1])
    run_ingest(src, tmp_path / "c", **(kw | {"seed": 6}))
    other = _table(tmp_path / "c").sort_by([("series_id", "ascending"), ("slice_index", "ascending")])
    assert other.column("hr").equals(tables[0].column("hr"))  # HR does not depend on the seed…
    assert not other.column("lr_x2").equals(tables[0].column("lr_x2"))  # …the random degradation does
