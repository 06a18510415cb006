"""What one ingress replica is allowed to accept, validated where the app is built (``medray serve`` flags, the
Serve config's app args): body and voxel limits, vitals age, augment count, the CT window the model was trained
with, the API token's hash (or the loopback-only development flag), the request deadline and the decode limit."""
from dataclasses import dataclass

from medray.config import check_range
from medray.serve.auth import require_token_or_insecure_dev
from medray.serve.codecs import CodecLimits


@dataclass(frozen=True)
class IngressSettings:
    max_body_bytes: int = 64 * 2**20
    max_voxels: int = 2**24
    max_vitals_age_s: float = 120.0  # older readings count as missing (α falls back to the model default)
    max_augment_n: int = 16
    max_side: int = 4096  # per in-plane side, from the header (CodecLimits.max_side)
    ct_window: str = "soft_tissue"  # the HU window the served model was trained with (ingest --ct-window)
    api_token_sha256: str | None = None
    insecure_dev: bool = False  # no token: loopback clients only (medray serve --insecure-dev, the demo)
    request_timeout_s: float = 60.0  # whole request, in the ingress → 504 {"error": "timeout"}
    max_concurrent_decodes: int = 4  # decodes at once per ingress replica (each may hold ~0.5 GiB)

    def __post_init__(self):
        check_range("max_vitals_age_s", self.max_vitals_age_s, 0.0, None)
        check_range("max_augment_n", self.max_augment_n, 1, 256)
        check_range("request_timeout_s", self.request_timeout_s, 0.1, None)
        check_range("max_concurrent_decodes", self.max_concurrent_decodes, 1, 256)
        self.limits  # validates max_side and ct_window at the edge, before any request
        require_token_or_insecure_dev(self.api_token_sha256, self.insecure_dev)

    @property
    def limits(self) -> CodecLimits:
        return CodecLimits(self.max_body_bytes, self.max_voxels, self.max_side, self.ct_window)
