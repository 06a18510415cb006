"""Training: the Ray-free GAN step (step), the per-worker loop (loop), validation (validate), the driver (run),
early stopping (early_stop), options (options) and optimizers (optimizers). What a model kind needs comes from
medray/tasks; evaluation against bicubic/nearest is medray/evaluate's."""
