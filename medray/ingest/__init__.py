"""Scans (NIfTI, BraTS folders, DICOM series) → de-identified Parquet shards, on Ray Data.

Entry point: ``medray.ingest.run.run_ingest``; output layout: ``medray.shards.layout``; shard format:
``medray.shards.schema``. Reading, intensity normalisation and the LR degradation are medray/imaging's (shared
with serving). One idea per module: discover, register, slicing, deid, split, vitals, rejects, process (one unit →
rows), run (the Ray Data driver).
"""
