"""Scans (NIfTI, BraTS folders, DICOM series) → de-identified Parquet shards, on Ray Data.

Entry point: ``medray.ingest.run.run_ingest``; output layout: ``medray.shards.layout``; shard format:
``medray.shards.schema``. One idea per module: discover, nifti, dicom, register, normalise, slicing, degrade,
deid, split, vitals, rejects, timeout, process (one unit → rows), run (the Ray Data driver).
"""
