"""Ray Tune sweeps over training configs: space files (space.py), the per-trial driver (trainable.py),
the Tuner (runner.py), and the results table (results.py) and figures (plots.py)."""
from medray.tune.runner import run_sweep, tune_from_cli

__all__ = ["run_sweep", "tune_from_cli"]
