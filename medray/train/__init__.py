"""Training: the Ray-free GAN step (step), the per-worker loop (loop), the driver (run), early stopping
(early_stop), options (options) and evaluation against bicubic/nearest (evaluate)."""
