"""Evaluation: a checkpoint of any kind on a shard split (checkpoint = `medray eval`), its tables and grids
(report), real scans never seen in training (realscan), synthesis and the downstream classifier (synth_eval,
classifier)."""
