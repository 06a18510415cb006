"""Training-time views of shards: aligned LR/HR crops (crops), seeded per-epoch augmentation (augment), channels
as samples (medray.shards.channels), per-sample vitals (vitals) and the numpy→torch batch transform (batches). Reading shards is
medray/shards'; this package never writes them."""
