"""Typed Serve application builder: ``serve run serve_apps/medray.yaml`` and ``medray serve`` (through
medray/serve/stack.py) both build the app here. The args model refuses unknown keys, so a typo in the YAML fails
at deploy time by name. Every deployment is bound by keyword, so a reordered ``__init__`` cannot shift a value
into the wrong parameter.

No ``from __future__ import annotations`` here: Serve inspects the builder's parameter annotation at run
time to turn the YAML ``args`` into ``MedrayAppArgs``."""
import os
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field
from ray.serve import Application

from medray.config import ConfigError, from_dict
from medray.pipelines.enhance import InferenceOptions
from medray.serve.app import IngressSettings, MedrayIngress
from medray.serve.auth import token_sha256_from_env
from medray.serve.enhancer import Enhancer
from medray.serve.model_loader import check_checkpoint_setting
from medray.serve.synthesizer import Synthesizer
from medray.weights import checkpoint_or_default
from medray.serve.vitals_deployment import SHARD_NAME, VitalsService


class MedrayAppArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checkpoint: Optional[str] = Field(None, description="IoT-GAN checkpoint (.pt or folder); env MEDRAY_CHECKPOINT")
    synth_checkpoint: Optional[str] = Field(None, description="PixMed cGAN checkpoint; env MEDRAY_SYNTH_CHECKPOINT; "
                                                               "none → the shipped medray/weights/pixmed.pt")
    allow_untrained: bool = Field(False, description="DEVELOPMENT ONLY: serve random weights when no checkpoint")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="HOST:PORT; `medray serve` fills it in")
    vitals_topic: str = "medray.vitals"
    vitals_group: str = "medray-serve"
    vitals_replicas: int = Field(1, ge=1, le=64, description="vitals shards VitalsShard0..N-1, each consuming the "
                                                             "partitions p % N == i; at most the topic's partitions")
    max_body_mb: float = Field(64.0, gt=0)
    max_voxels: int = Field(2**24, gt=0)
    max_side: int = Field(4096, gt=0, description="per in-plane side, from the header, before decoding")
    max_vitals_age_s: float = Field(120.0, ge=0)
    max_augment_n: int = Field(16, ge=1, le=256)
    batching: bool = Field(True, description="@serve.batch in the enhancer (off only for the benchmark)")
    max_batch_size: int = Field(8, ge=1)
    batch_wait_timeout_s: float = Field(0.0, ge=0)
    torch_threads: Optional[int] = Field(None, ge=1, description="default: the replica's granted num_cpus")
    ct_window: str = Field("soft_tissue", description="CT HU window the served model was trained with "
                                                      "(ingest --ct-window): soft_tissue, brain, lung, bone")
    inference: dict = Field(default_factory=dict, description="enhance pipeline options (InferenceOptions): "
                                                              "backend (eager|onnx), dtype, channels_last, "
                                                              "max_pixels, tile, overlap")
    insecure_dev: bool = Field(False, description="DEVELOPMENT ONLY: start without MEDRAY_API_TOKEN; the stack binds "
                                                  "to 127.0.0.1 and the ingress answers loopback clients only")
    request_timeout_s: float = Field(60.0, gt=0, description="whole request in the ingress → 504 timeout")
    max_concurrent_decodes: int = Field(4, ge=1, le=256, description="decodes at once per ingress replica")
    kafka_security: Optional[dict[str, str]] = Field(
        None, description="medray.vitals.security.KafkaSecurity fields for the vitals consumer (sasl_mechanism, "
                          "sasl_username, sasl_password_file, ssl_cafile); the files must exist where it runs")


# "VitalsService" in a deployments dict (medray serve / the stack) applies to every vitals shard; the shards
# themselves are VitalsShard0..N-1, and only those names exist for `serve run`'s per-deployment options.
DEPLOYMENTS = ("MedrayIngress", "Enhancer", "Synthesizer", "VitalsService")


def deployment_names(vitals_replicas: int) -> tuple[str, ...]:
    """Every name a deployments dict may use for an app with ``vitals_replicas`` vitals shards."""
    return DEPLOYMENTS + tuple(SHARD_NAME.format(i) for i in range(vitals_replicas))


def build_medray_app(args: MedrayAppArgs) -> Application:
    """The builder ``serve run`` calls (exactly one parameter, as Serve requires); Serve itself applies the
    YAML's per-deployment options on that path."""
    return medray_app(args)


def medray_app(args: MedrayAppArgs, deployments: Optional[dict[str, dict[str, Any]]] = None) -> Application:
    """The app with ``deployments[name]`` (the YAML's per-deployment keys: num_replicas, max_ongoing_requests,
    ray_actor_options, autoscaling_config, ...) applied by ``.options`` before each ``.bind``."""
    opts = dict(deployments or {})
    valid = deployment_names(args.vitals_replicas)
    unknown = sorted(set(opts) - set(valid))
    if unknown:
        raise ConfigError(f"unknown deployment(s) {unknown}; valid ones are {list(valid)}")

    def configured(deployment, name=None):
        o = {k: v for k, v in (opts.get(deployment.name) or {}).items() if k != "name"}
        if name is not None:  # a vitals shard: the shared options, then its own, one replica whatever they say
            o = {**o, **{k: v for k, v in (opts.get(name) or {}).items() if k != "name"}, "name": name}
            if o.pop("autoscaling_config", None) or o.get("num_replicas", 1) != 1:
                raise ConfigError(f"{name}: a vitals shard runs exactly one replica (its partitions are its own); "
                                  "scale with vitals_replicas instead")
            o["num_replicas"] = 1
        return deployment.options(**o) if o else deployment

    # no SR checkpoint given: the shipped ×2 IoT-GAN weights (medray/weights/iotgan_x2.pt), when installed
    checkpoint = checkpoint_or_default(args.checkpoint or os.environ.get("MEDRAY_CHECKPOINT"), "sr", 2)
    # no synthesis checkpoint given: the shipped PixMed weights (medray/weights/pixmed.pt), when installed
    synth = checkpoint_or_default(args.synth_checkpoint or os.environ.get("MEDRAY_SYNTH_CHECKPOINT"), "synth")
    check_checkpoint_setting(checkpoint, args.allow_untrained, "sr")
    # a bad backend/dtype fails here, by name, not later in a replica's constructor
    from_dict(InferenceOptions, dict(args.inference), where="inference")
    if synth:
        check_checkpoint_setting(synth, False, "synth")
    enhancer = configured(Enhancer).bind(
        checkpoint=checkpoint, allow_untrained=args.allow_untrained, batching=args.batching,
        max_batch_size=args.max_batch_size, batch_wait_timeout_s=args.batch_wait_timeout_s, chunk_slices=16,
        torch_threads=args.torch_threads, inference=args.inference)
    synthesizer = configured(Synthesizer).bind(
        checkpoint=synth, allow_untrained=args.allow_untrained, max_batch_size=4,
        batch_wait_timeout_s=args.batch_wait_timeout_s, torch_threads=args.torch_threads)
    n = args.vitals_replicas
    vitals = [configured(VitalsService, SHARD_NAME.format(i)).bind(
        bootstrap=args.kafka_bootstrap, group_id=args.vitals_group, topic=args.vitals_topic,
        kafka_security=args.kafka_security, shard=i, shards=n) for i in range(n)]
    settings = IngressSettings(max_body_bytes=int(args.max_body_mb * 2**20), max_voxels=args.max_voxels,
                               max_vitals_age_s=args.max_vitals_age_s, max_augment_n=args.max_augment_n,
                               max_side=args.max_side, ct_window=args.ct_window, api_token_sha256=token_sha256_from_env(),
                               insecure_dev=args.insecure_dev, request_timeout_s=args.request_timeout_s,
                               max_concurrent_decodes=args.max_concurrent_decodes)
    return configured(MedrayIngress).bind(enhancer=enhancer, vitals=vitals, synthesizer=synthesizer,
                                          settings=settings.__dict__)
