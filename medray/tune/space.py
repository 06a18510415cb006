"""Sweep space files (``tune_spaces/*.yaml``): loading and validation, before any trial starts.

Format (every key but ``params``/``variants`` optional; unknown keys are refused by name)::

    model: iotgan                 # iotgan | pixmed (sets the training config's ``model``)
    description: "..."            # free text, copied into the results table
    metric: val_psnr              # what the scheduler and "best" use; reported by training
    mode: max                     # max | min
    secondary_metric: val_ssim    # shown next to the metric, used to break ties
    num_samples: 1                # samples per grid point (CLI --num-samples overrides)
    search_seed: 0                # seeds the random search, so the sampled configs are reproducible
    max_concurrent_trials: 1      # Train runs in flight at once (each needs its workers' resources)
    resources_per_trial: {workers: 1, cpu: 1, gpu: 0}   # per Train worker; the trial's driver takes 0.1 CPU
    base: {max_steps: 40, loss.w_adv: 0.001}            # TrainConfig overrides shared by all trials
    params:                       # dotted TrainConfig keys → one distribution each
      loss.w_perc: {loguniform: [0.001, 0.1]}
      loss.w_l1: {uniform: [0.5, 2.0]}
      discriminator.tie_beta: {choice: [true, false]}
      generator.width: {grid: [32, 64]}
    variants:                     # named configurations, run as a grid (ablations)
      full: {label: "full model", overrides: {}, paper: {psnr: 28.5, ssim: 0.84}}
      no_attention: {label: "− residual attention", overrides: {generator.residual_attention: false}}
    paper_source: "IoT-GAN, BraTS 2021"   # labels the ``paper`` numbers; they are never shown as ours

Every trial trains with the same training seed (``base.seed`` or the config's default) so trials differ only in
their config; put ``seed: {grid: [0, 1, 2]}`` in ``params`` to repeat each configuration with several seeds.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from medray.config import ConfigError, check_choice, from_dict, load_yaml, to_dict

DISTRIBUTIONS = ("grid", "choice", "uniform", "loguniform")
TOP_KEYS = ("model", "description", "metric", "mode", "secondary_metric", "num_samples", "search_seed",
            "max_concurrent_trials", "resources_per_trial", "base", "params", "variants", "paper_source")
RESOURCE_KEYS = ("workers", "cpu", "gpu")
VARIANT_KEYS = ("label", "overrides", "paper")


@dataclass(frozen=True)
class Distribution:
    kind: str  # one of DISTRIBUTIONS
    values: tuple  # grid/choice: the options; uniform/loguniform: (lo, hi)


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    overrides: dict[str, Any]
    paper: dict[str, float]


@dataclass
class SweepSpace:
    path: Path
    model: str = ""  # a kind of medray.tasks.KINDS (default: the default SR kind)
    description: str = ""
    metric: str = "val_psnr"
    mode: str = "max"
    secondary_metric: str = "val_ssim"
    num_samples: int = 1
    search_seed: int = 0
    max_concurrent_trials: int = 1
    resources: dict[str, float] = field(default_factory=lambda: {"workers": 1, "cpu": 1, "gpu": 0})
    base: dict[str, Any] = field(default_factory=dict)  # dotted keys
    params: dict[str, Distribution] = field(default_factory=dict)
    variants: list[Variant] = field(default_factory=list)
    paper_source: str = ""

    @property
    def name(self) -> str:
        return self.path.stem

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise ConfigError(f"variant {name!r} is not in {self.path}; valid: {[v.name for v in self.variants]}")


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"loss": {"w_l1": 1}}`` and ``{"loss.w_l1": 1}`` both → ``{"loss.w_l1": 1}``."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    out: dict[str, Any] = {}
    for key, v in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


def section_classes(model: str) -> dict[str, type | None]:
    """The training config keeps model/loss options as plain dicts; the kind's dataclasses own their keys.

    A section mapped to None is not used by that model, so any key under it is refused."""
    from medray import tasks

    return tasks.get(model).sections()


def section_defaults(model: str) -> dict[str, dict]:
    """What the kind applies under a section before the run's own keys (e.g. the perceptual term off)."""
    from medray import tasks

    return tasks.get(model).section_defaults()


def _field_type(cls: type, dotted: str, where: str, sections: Mapping[str, type | None]) -> Any:
    """Walk a dotted key through nested dataclasses; refuse a key that is not a field, naming it."""
    node: Any = cls
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if i == 1 and parts[0] in sections:
            node = sections[parts[0]]
            if node is None:
                raise ConfigError(f"{where}: key {dotted!r}: section {parts[0]!r} is not used by this model")
        if not dataclasses.is_dataclass(node):
            raise ConfigError(f"{where}: {'.'.join(parts[:i])!r} is not a section, so {dotted!r} is not a key")
        names = [f.name for f in dataclasses.fields(node)]
        if part not in names:
            raise ConfigError(f"{where}: unknown key {dotted!r} ({part!r} is not a field of {node.__name__}; "
                              f"valid keys are {names})")
        node = typing.get_type_hints(node)[part]
    return node


def _parse_distribution(key: str, spec: Any, where: str) -> Distribution:
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(f"{where}.{key}: expected one of {{{' | '.join(d + ': ...' for d in DISTRIBUTIONS)}}}, "
                          f"got {spec!r}")
    kind, values = next(iter(spec.items()))
    check_choice(f"{where}.{key} distribution", kind, DISTRIBUTIONS)
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}.{key}: {kind} needs a non-empty list, got {values!r}")
    if kind in ("uniform", "loguniform"):
        if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ConfigError(f"{where}.{key}: {kind} needs [lo, hi] numbers, got {values!r}")
        lo, hi = float(values[0]), float(values[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"{where}.{key}: {kind} needs finite lo < hi, got {values!r}")
        if kind == "loguniform" and lo <= 0:
            raise ConfigError(f"{where}.{key}: loguniform needs lo > 0, got {values!r}")
        return Distribution(kind, (lo, hi))
    return Distribution(kind, tuple(values))


def build_config(config_cls: type, model: str, flat: Mapping[str, Any], where: str):
    """Defaults of ``config_cls`` with dotted overrides applied (sections merged key by key, so an override
    of ``loss.w_l1`` keeps the other loss defaults), validated by the config and by each section's dataclass."""
    data = to_dict(config_cls())
    for key, value in {"model": model, **flat}.items():
        *parents, leaf = key.split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    try:
        cfg = from_dict(config_cls, data, where=where)
        sections = {}
        for name, cls in section_classes(model).items():
            if cls is not None:
                values = {**section_defaults(model).get(name, {}), **(getattr(cfg, name, {}) or {})}
                sections[name] = from_dict(cls, values, where=f"{where}: {name}")
        loss = sections.get("loss")
        if getattr(loss, "perceptual", None) == "vgg19" and loss.w_perc > 0:
            from medray.losses.perceptual import resolve_weights

            resolve_weights(loss.vgg19_weights)  # the weights file must exist now, not when trial 1 starts
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}" if not str(e).startswith(where) else str(e)) from e
    except (TypeError, ValueError) as e:  # a dataclass given a wrongly-typed value
        raise ConfigError(f"{where}: {e}") from e
    return cfg


def parse_space(data: Mapping[str, Any], path: Path, config_cls: type) -> SweepSpace:
    """Validate a space mapping against ``config_cls`` (the training config dataclass)."""
    where = str(path)
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys are {list(TOP_KEYS)}")
    s = SweepSpace(path=path)
    from medray import tasks

    s.model = check_choice(f"{where}: model", data.get("model", tasks.DEFAULT_KIND["sr"]), list(tasks.KINDS))
    s.description = str(data.get("description", ""))
    s.metric = str(data.get("metric", s.metric))
    s.mode = check_choice(f"{where}: mode", data.get("mode", s.mode), ("max", "min"))
    s.secondary_metric = str(data.get("secondary_metric", s.secondary_metric))
    for name in ("num_samples", "max_concurrent_trials", "search_seed"):
        v = data.get(name, getattr(s, name))
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "search_seed" else 1):
            raise ConfigError(f"{where}: {name}={v!r} must be an integer ≥ {0 if name == 'search_seed' else 1}")
        setattr(s, name, v)
    res = data.get("resources_per_trial", {}) or {}
    if not isinstance(res, Mapping):
        raise ConfigError(f"{where}: resources_per_trial must be a mapping like {{workers: 1, cpu: 1, gpu: 0}}")
    bad = sorted(set(res) - set(RESOURCE_KEYS))
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {bad} in resources_per_trial; valid keys are {list(RESOURCE_KEYS)}")
    s.resources = {**s.resources, **res}
    for k, v in s.resources.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (k == "workers" and v < 1):
            raise ConfigError(f"{where}: resources_per_trial.{k}={v!r} must be a number ≥ {1 if k == 'workers' else 0}")
    s.paper_source = str(data.get("paper_source", ""))
    sections = section_classes(s.model)

    base = data.get("base", {}) or {}
    if not isinstance(base, Mapping):
        raise ConfigError(f"{where}: base must be a mapping of training-config overrides")
    s.base = flatten(base)
    if "model" in s.base:
        raise ConfigError(f"{where}: base.model: set the model with the top-level 'model:' key")
    for key in s.base:
        _field_type(config_cls, key, f"{where}: base", sections)

    params = data.get("params", {}) or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: params must map dotted config keys to distributions")
    for key, spec in params.items():
        _field_type(config_cls, key, f"{where}: params", sections)
        if key in s.base:
            raise ConfigError(f"{where}: key {key!r} is both in base and in params; keep it in one place")
        s.params[key] = _parse_distribution(key, spec, f"{where}: params")

    variants = data.get("variants", {}) or {}
    if not isinstance(variants, Mapping):
        raise ConfigError(f"{where}: variants must map a name to {{label, overrides, paper}}")
    for name, spec in variants.items():
        vw = f"{where}: variants.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{vw}: expected a mapping with keys {list(VARIANT_KEYS)}")
        bad = sorted(set(spec) - set(VARIANT_KEYS))
        if bad:
            raise ConfigError(f"{vw}: unknown key(s) {bad}; valid keys are {list(VARIANT_KEYS)}")
        overrides = flatten(spec.get("overrides", {}) or {})
        for key in overrides:
            _field_type(config_cls, key, f"{vw}.overrides", sections)
            if key in s.params:
                raise ConfigError(f"{vw}.overrides: key {key!r} is also swept in params")
        paper = spec.get("paper", {}) or {}
        for k, v in paper.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{vw}.paper.{k}={v!r} must be a number")
        s.variants.append(Variant(str(name), str(spec.get("label", name)), overrides, dict(paper)))
    if not s.params and not s.variants:
        raise ConfigError(f"{where}: nothing to sweep; give params and/or variants")
    if any(v.paper for v in s.variants) and not s.paper_source:
        raise ConfigError(f"{where}: variants carry paper numbers, so paper_source must say where they come from")

    # Values: build the training config for each variant and each distribution's extremes / options.
    for v in s.variants or [Variant("", "", {}, {})]:
        vw = f"{where}: variants.{v.name}" if v.name else f"{where}: base"
        build_config(config_cls, s.model, {**s.base, **v.overrides}, vw)
        for key, dist in s.params.items():
            for value in dist.values:  # grid/choice options, or the uniform range's two ends
                build_config(config_cls, s.model, {**s.base, **v.overrides, key: value},
                             f"{where}: params.{key}={value!r}")
    return s


def load_space(path: str | Path, config_cls: type | None = None) -> SweepSpace:
    """Read and validate a space file. ``config_cls`` defaults to the training config (``TrainConfig``)."""
    if config_cls is None:
        from medray.train.options import TrainConfig as config_cls  # noqa: N813 — the train package owns it
    p = Path(path)
    return parse_space(load_yaml(p), p, config_cls)
