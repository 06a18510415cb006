"""Reading shards for training: file discovery and Ray Data datasets (shards), aligned LR/HR crops (crops),
seeded per-epoch augmentation (augment), per-sample vitals (vitals) and the numpy→torch batch transform (batches).
This package reads shards; it never writes them."""
