"""Inference, written once (diffusers-style pipelines): array in, array out. Serve, evaluation, training
validation and the demo all call these, so a speed-up or a fix here reaches every caller."""
