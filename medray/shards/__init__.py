"""The shard contract between ingest and training/evaluation: Parquet, one row per slice.

- ``schema``: the columns, image encoding and version (``encode_image`` / ``decode_image``).
- ``layout``: where ingest puts shards, manifest, rejects and vitals; ``shard_files``, the one way to list shards.
- ``selection``: what a shard folder holds (``shard_index``, ``check_selection``) and the row filter (``select_rows``).
- ``dataset``: ``read_shards``, a Ray Data dataset of the selection (training).
- ``local``: ``read_rows_local``, the selection as one Arrow table without Ray (evaluation, demo, benchmarks).
- ``decode``: ``decode_batch`` / ``table_to_batch``, cells → float arrays and label maps.
- ``channels``: ``explode_channels``, each channel of a multi-channel row as a row of its own (channels as samples).

Training-time views of shard rows (crops, augmentation, vitals join) live in ``medray.data``.
"""
