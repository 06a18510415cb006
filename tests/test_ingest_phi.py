"""No PHI value of the DICOM inputs reaches shards, manifest, rejects, vitals or logs (PS3.15 Annex E basic profile)."""
import logging
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pydicom

from medray.ingest.deid import PHI_KEYWORDS
from medray.ingest.run import run_ingest
from tests.fixtures_data import pydicom_test_dir

MIN_LEN = 4  # shorter values (e.g. sex "M") match by chance in any binary file
BINARY_MIN_LEN = 8  # in raw Parquet bytes (compressed pixels) only values this long are specific enough


def _phi_values(files: list[Path]) -> set[str]:
    values = set()
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        for kw in PHI_KEYWORDS:
            v = ds.get(kw) if kw != "MediaStorageSOPInstanceUID" else ds.file_meta.get(kw)
            if v is None or v == "":
                continue
            for item in (v if isinstance(v, pydicom.multival.MultiValue) else [v]):
                s = str(item).strip()
                values |= {s} | set(s.split("^"))  # person names also component-wise
    # drop values that say nothing about a person: too short, no letters/digits, or one repeated character
    return {v for v in values if len(v) >= MIN_LEN and any(ch.isalnum() for ch in v) and len(set(v)) > 1}


def test_no_phi_in_any_output_or_log(ray_session, demo_data_dir, pydicom_files, tmp_path, capfd):
    src = tmp_path / "in"
    shutil.copytree(demo_data_dir / "dicom", src / "demo")
    for i, f in enumerate(pydicom_files):
        (src / f"extra{i}").mkdir()
        shutil.copy(f, src / f"extra{i}" / f.name)
    shutil.copy(pydicom_test_dir() / "MR_truncated.dcm", src / "MR_truncated.dcm")  # a reject with PHI inside
    inputs = sorted(p for p in src.rglob("*.dcm"))
    phi = _phi_values(inputs)
    assert {"CompressedSamples^CT1", "1CT1", "CompressedSamples"} <= phi  # the test data does carry PHI-like values

    log_file = tmp_path / "ingest.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        out = tmp_path / "out"
        vitals = tmp_path / "vitals.csv"
        vitals.write_text("patient_id,heart_rate,spo2,temperature,mobility\n1CT1,88,97,37.0,0.3\n")
        s = run_ingest([src], out, salt="phi-test", vitals=vitals, slice_step=1)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    assert s.n_slices > 0 and s.n_rejects >= 1
    captured = capfd.readouterr()
    texts = {"stdout": captured.out, "stderr": captured.err, "log": log_file.read_text()}
    for f in sorted(out.rglob("*")):
        if f.is_file():
            texts[str(f)] = f.read_bytes().decode("latin-1")
            if f.suffix == ".parquet":  # also the decoded values (Parquet pages may be compressed)
                t = pq.read_table(f)
                texts[f"{f}:values"] = " ".join(str(v) for c in t.column_names if str(t.schema.field(c).type) == "string"
                                                for v in t.column(c).to_pylist())
    assert len(texts) > 6
    binary = {k for k in texts if k.endswith(".parquet")}
    leaks = [(where, v) for where, text in texts.items() for v in phi
             if v in text and (where not in binary or len(v) >= BINARY_MIN_LEN)]
    assert not leaks, leaks[:10]
