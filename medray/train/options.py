"""Training options: one dataclass holding the recipe (paper defaults), validated at construction, loadable
from YAML (unknown keys refused by name) and overridden by CLI flags.

Model/loss sub-configs stay plain dicts here and are validated by the models' own dataclasses when the
worker builds them, so this file does not duplicate their fields.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from medray.config import ConfigError, check_choice, check_range, from_dict, load_yaml, to_dict
from medray.data.augment import AugmentConfig
from medray.data.crops import check_patch
from medray.shards.schema import SIZE

AMP_MODES = ("auto", "off", "bf16", "fp16")  # auto = bf16 on GPU, off on CPU


@dataclass
class TrainConfig:
    model: str | None = None  # a kind of medray.tasks.KINDS (`medray models summary`); None = the default SR kind
    n_channels: int = 4  # 4 = BraTS t1/t1ce/t2/flair, 1 = single-channel MR/CT slices
    modality: str | None = None  # restrict to "MR" or "CT"; None = all rows with n_channels
    # with n_channels 1: every row counts, each of its channels a sample (a single-channel model that has seen
    # T1, T1ce, T2 and FLAIR: what serving PNG/DICOM needs). See medray.shards.channels.
    channels_as_samples: bool = False
    scale: int = 2
    patch: int = 64  # HR crop; small enough for 2 CPU cores (the paper trains on whole slices)
    batch_size: int = 32  # global: split evenly over the workers
    max_epochs: int = 500
    max_steps: int | None = None  # stop after this many optimizer steps in total (smoke runs, benchmarks)
    time_budget_s: float | None = None  # stop at the first epoch end after this much training wall time (this run)
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    patience: int = 20  # epochs without a new best val PSNR before stopping (0 = never stop early)
    min_delta: float = 0.0  # dB a new best must beat the old one by
    warmup_epochs: int = 0  # phase 1: pixel-loss-only epochs before the adversarial term (0 = paper behaviour)
    # EMA of G's weights: validated, early-stopped on and exported (0 = off: the raw weights, as before)
    ema_decay: float = 0.0
    # reduce-on-plateau of val PSNR for G and D (paper A's adaptive learning rate): lr *= lr_factor after
    # lr_patience epochs without a new best; 0 = a constant lr
    lr_patience: int = 0
    lr_factor: float = 0.5
    min_lr: float = 1e-6
    amp: str = "auto"
    seed: int = 0
    checkpoint_every: int = 5  # epochs; a new best and the last epoch are always checkpointed
    num_to_keep: int | None = 3
    val_max_slices: int = 64  # cap validation work per epoch (whole 256² slices)
    val_batch_size: int = 8
    augment: bool = True
    augmentation: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = 2
    use_gpu: bool = False
    max_failures: int = 1  # a killed worker restarts the run from the last checkpoint this many times
    # overrides of the kind's own config dataclasses (tasks.get(model).sections() names them)
    generator: dict = field(default_factory=dict)  # generator config (width, depth, …)
    discriminator: dict = field(default_factory=dict)  # discriminator config, for kinds that have one
    loss: dict = field(default_factory=dict)  # generator loss config

    def __post_init__(self):
        from medray import tasks  # lazy: tasks imports the models, and this module must stay light

        if self.model is None:
            self.model = tasks.DEFAULT_KIND["sr"]
        task = tasks.get(self.model)
        check_choice("n_channels", self.n_channels, (1, 4))
        check_choice("channels_as_samples", self.channels_as_samples, (False, True))
        if self.channels_as_samples and self.n_channels != 1:
            raise ConfigError(f"channels_as_samples=True needs n_channels=1, got n_channels={self.n_channels}")
        if self.modality is not None:
            check_choice("modality", self.modality, ("MR", "CT"))
        check_choice("scale", self.scale, (2, 4))
        check_choice("amp", self.amp, AMP_MODES)
        for name in ("patch", "batch_size", "max_epochs", "val_max_slices", "val_batch_size", "num_workers",
                     "checkpoint_every"):
            check_range(name, getattr(self, name), 1)
        for name in ("patience", "warmup_epochs", "max_failures", "lr_patience"):
            check_range(name, getattr(self, name), 0)
        if self.max_steps is not None:
            check_range("max_steps", self.max_steps, 1)
        if self.time_budget_s is not None:
            check_range("time_budget_s", self.time_budget_s, 1)
        check_range("lr", self.lr, 0, 1)
        check_range("beta1", self.beta1, 0, 1)
        check_range("beta2", self.beta2, 0, 1)
        check_range("ema_decay", self.ema_decay, 0, 1)
        if self.ema_decay >= 1:
            raise ConfigError(f"ema_decay={self.ema_decay} must be below 1 (0 = off, e.g. 0.999)")
        check_range("lr_factor", self.lr_factor, 0, 1)
        check_range("min_lr", self.min_lr, 0, 1)
        check_patch(self.patch, task.data_scale(self) or 1, SIZE)
        if self.batch_size % self.num_workers:
            raise ConfigError(f"batch_size={self.batch_size} must be a multiple of num_workers={self.num_workers}")
        if isinstance(self.augmentation, dict):
            self.augmentation = from_dict(AugmentConfig, self.augmentation, where="augmentation")
        for name in ("generator", "discriminator", "loss"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a mapping of overrides, got {getattr(self, name)!r}")

    @property
    def per_worker_batch(self) -> int:
        return self.batch_size // self.num_workers

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


@dataclass
class RunOptions:
    """Where a run reads and writes: shards in, Ray Train storage/name out (same name+storage = resume)."""

    shards: Path
    name: str
    storage: Path
    train: TrainConfig = field(default_factory=TrainConfig)


def config_from_sources(yaml_path: Path | None = None, overrides: dict | None = None,
                        preset: str | None = None) -> TrainConfig:
    """A named recipe (``--preset``, medray.train.presets), then the YAML file (if any), then explicit overrides
    (CLI flags that were given), validated together."""
    from medray.train.presets import merge, preset as recipe

    yaml_data = load_yaml(yaml_path) if yaml_path is not None else {}
    kind = (overrides or {}).get("model") or yaml_data.get("model")  # a kind may bring its own presets
    data = recipe(preset, kind).overrides() if preset is not None else {}
    data = merge(data, yaml_data)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return from_dict(TrainConfig, data, where=str(yaml_path) if yaml_path else "train config")


def config_to_dict(cfg: TrainConfig) -> dict:
    return to_dict(cfg)


def config_from_dict(data: dict) -> TrainConfig:
    return from_dict(TrainConfig, data, where="train config")
