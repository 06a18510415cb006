"""PACS round trip over DICOMweb (``medray pacs enhance``): QIDO-RS finds the series of a study, WADO-RS fetches
each instance, the super-resolver enhances it (in-process, or on a running Serve app), and STOW-RS stores the
derived instances back into the same study as ONE new series, in the source's InstanceNumber order.

Every DICOMweb call goes through ``dicomweb-client``. A failed instance is reported and skipped; the rest go on.
A rerun finds the derived series it made before (QIDO: a series whose SeriesDescription is medray's and whose
instances' SourceImageSequence points at this source series) and only stores the instances still missing there,
so it never stores a second copy.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from tqdm import tqdm

from medray.config import ConfigError, InputError, MedrayError
from medray.pipelines.loading import resolve_checkpoint
from medray.serve.codecs.dicom import DerivedSeries, decode_dicom, encode_dicom, stamp_series
from medray.serve.codecs.types import CodecLimits

log = logging.getLogger(__name__)
DESCRIPTION_PREFIX = "medray SR"  # SeriesDescription of every derived series: "medray SR x2 <source description>"
_SERIES_NUMBER_OFFSET = 1000  # derived SeriesNumber = source + 1000: sorts after the source in viewers
# DICOM JSON keys (QIDO-RS answers and WADO-RS metadata)
_UID, _DESC, _NUM, _MODALITY = "0020000E", "0008103E", "00200011", "00080060"
_INST, _SOP, _SRC_SEQ, _REF_SOP = "00200013", "00080018", "00082112", "00081155"


def _value(item: dict, tag: str, default=None):
    v = item.get(tag, {}).get("Value")
    return v[0] if v else default


def read_token(token_file: Path | None) -> str | None:
    if token_file is None:
        return None
    try:
        token = Path(token_file).read_text().strip()
    except OSError as e:
        raise ConfigError(f"--token-file {str(token_file)!r} cannot be read: {e.strerror}") from None
    if not token:
        raise ConfigError(f"--token-file {str(token_file)!r} is empty")
    return token


def connect(url: str, token: str | None = None, timeout_s: float = 60.0) -> DICOMwebClient:
    """A DICOMweb client for ``url`` (the server's DICOMweb root, e.g. ``http://pacs:8042/dicom-web``), sending
    ``Authorization: Bearer <token>`` when a token is given."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--dicomweb {url!r}: expected an http:// or https:// URL of the DICOMweb root")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return DICOMwebClient(url.rstrip("/"), headers=headers, timeout=timeout_s)


@dataclass
class SourceInstance:
    sop_uid: str
    number: int | None  # InstanceNumber (None when the PACS has none)


def source_series(client: DICOMwebClient, study: str, series: str | None) -> list[dict]:
    """The study's series to enhance (QIDO-RS): the one asked for, else every non-derived image series."""
    found = client.search_for_series(study_instance_uid=study, fields=["SeriesDescription", "Modality"],
                                     get_remaining=True)
    if series is not None:
        found = [s for s in found if _value(s, _UID) == series]
        if not found:
            raise InputError("not_found", f"series {series} is not in study {study}")
        return found
    mine = [s for s in found if str(_value(s, _DESC, "")).startswith(DESCRIPTION_PREFIX)]
    out = [s for s in found if s not in mine and _value(s, _MODALITY) in ("CT", "MR")]
    if not out:
        raise InputError("not_found", f"study {study} has no CT or MR series to enhance")
    return out


def list_instances(client: DICOMwebClient, study: str, series: str) -> list[SourceInstance]:
    """The series' instances in InstanceNumber order (QIDO-RS)."""
    rows = client.search_for_instances(study_instance_uid=study, series_instance_uid=series,
                                       fields=["InstanceNumber"], get_remaining=True)
    insts = [SourceInstance(_value(r, _SOP), None if _value(r, _INST) is None else int(_value(r, _INST)))
             for r in rows]
    return sorted(insts, key=lambda i: (i.number is None, i.number or 0, i.sop_uid))


def derived_description(scale: int, source_description: str | None) -> str:
    return f"{DESCRIPTION_PREFIX} x{scale} {source_description or ''}".strip()[:64]


def find_derived(client: DICOMwebClient, study: str, scale: int, source_sops: set[str]) -> tuple[str | None, set[str]]:
    """A derived series made earlier from this source at this scale: (its UID, the source SOP UIDs it already
    covers), or (None, ∅). Recognised without private tags: medray's SeriesDescription, and SourceImageSequence
    items of its instances that reference the source's instances."""
    prefix = f"{DESCRIPTION_PREFIX} x{scale}"
    for s in client.search_for_series(study_instance_uid=study, fields=["SeriesDescription"], get_remaining=True):
        if not str(_value(s, _DESC, "")).startswith(prefix):
            continue
        uid = _value(s, _UID)
        covered = set()
        for meta in client.retrieve_series_metadata(study, uid):
            for ref in meta.get(_SRC_SEQ, {}).get("Value", []) or []:
                covered.add(_value(ref, _REF_SOP))
        if covered & source_sops:
            return uid, covered & source_sops
    return None, set()


class LocalEnhancer:
    """The enhance pipeline in this process (medray/pipelines/enhance.py) with the service's DICOM codec."""

    def __init__(self, checkpoint: str, limits: CodecLimits | None = None):
        from medray.pipelines.enhance import EnhancePipeline
        from medray.serve.model_loader import load_served_model

        self.served = load_served_model(checkpoint, "sr", allow_untrained=False)
        self.pipeline = EnhancePipeline(self.served.model)
        self.limits = limits or CodecLimits()
        self.scale = self.pipeline.scale

    def __call__(self, body: bytes, series: DerivedSeries, number: int | None) -> bytes:
        dec = decode_dicom(body, self.limits)
        out, alpha, _ = self.pipeline(dec.slices)
        desc = (f"medray {self.served.kind} x{self.scale} super-resolution; model {self.served.version}; "
                f"alpha {alpha:.4f}")
        return encode_dicom(dec, out, self.scale, desc, series, number)


class ServeEnhancer:
    """POST /v1/enhance of a running medray Serve app (``--serve URL``), body and answer application/dicom; the
    answer is put into the derived series here (the service makes one series per request)."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 300.0):
        self.url, self.timeout_s = url.rstrip("/"), timeout_s
        self.headers = {"Content-Type": "application/dicom", **({"Authorization": f"Bearer {token}"} if token else {})}
        r = requests.get(f"{self.url}/v1/models", headers=self.headers, timeout=timeout_s)
        if r.status_code != 200:
            raise ConfigError(f"--serve {url}: GET /v1/models answered {r.status_code}: {r.text[:200]}")
        self.scale = int(r.json()["enhancer"]["config"]["scale"])

    def __call__(self, body: bytes, series: DerivedSeries, number: int | None) -> bytes:
        r = requests.post(f"{self.url}/v1/enhance", data=body, headers=self.headers, timeout=self.timeout_s)
        if r.status_code != 200:
            raise InputError("serve_error", f"the Serve app answered {r.status_code}: {r.text[:300]}")
        ds = pydicom.dcmread(io.BytesIO(r.content))
        stamp_series(ds, series, number)
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        return buf.getvalue()


@dataclass
class SeriesOutcome:
    source_series: str
    derived_series: str | None
    stored: int = 0
    already: int = 0  # derived before (a rerun): not stored again
    failed: list[tuple[str, str]] = field(default_factory=list)  # (SOP Instance UID, reason)


def _to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def enhance_series(client: DICOMwebClient, study: str, series_item: dict, enhancer,
                   progress: bool = True) -> SeriesOutcome:
    """One source series → its derived series (created, or completed after an earlier partial run)."""
    src_uid = _value(series_item, _UID)
    insts = list_instances(client, study, src_uid)
    uid, covered = find_derived(client, study, enhancer.scale, {i.sop_uid for i in insts})
    out = SeriesOutcome(src_uid, uid, already=len(covered))
    todo = [i for i in insts if i.sop_uid not in covered]
    if not todo:
        return out
    src_number = _value(series_item, _NUM)
    target = DerivedSeries(uid or generate_uid(), derived_description(enhancer.scale, _value(series_item, _DESC)),
                           None if src_number is None else int(src_number) + _SERIES_NUMBER_OFFSET)
    out.derived_series = target.series_uid
    for inst in tqdm(todo, desc=f"series …{src_uid[-12:]}", unit="instance", disable=not progress):
        number = inst.number if inst.number is not None else insts.index(inst) + 1
        try:
            body = _to_bytes(client.retrieve_instance(study, src_uid, inst.sop_uid))
            derived = pydicom.dcmread(io.BytesIO(enhancer(body, target, number)))
            client.store_instances([derived], study_instance_uid=study)
            out.stored += 1
        except (MedrayError, requests.RequestException, ValueError, OSError) as e:
            reason = f"{type(e).__name__}: {e}"
            out.failed.append((inst.sop_uid, reason))
            tqdm.write(f"medray pacs: instance {inst.sop_uid} skipped: {reason}")
    return out


def pacs_enhance(dicomweb: str, study: str, series: str | None = None, checkpoint: str | None = None,
                 serve: str | None = None, token_file: Path | None = None, serve_token: str | None = None,
                 progress: bool = True) -> list[SeriesOutcome]:
    client = connect(dicomweb, read_token(token_file))
    enhancer = ServeEnhancer(serve, serve_token) if serve else LocalEnhancer(resolve_checkpoint(checkpoint, "sr"))
    try:
        items = source_series(client, study, series)
    except requests.HTTPError as e:
        raise InputError("pacs_error", f"QIDO-RS search in study {study} failed: {e}") from None
    return [enhance_series(client, study, item, enhancer, progress) for item in items]


def summary(outcomes: list[SeriesOutcome]) -> str:
    lines = []
    for o in outcomes:
        lines.append(f"series {o.source_series} → {o.derived_series}: {o.stored} stored, {o.already} already "
                     f"derived, {len(o.failed)} failed")
        lines += [f"  failed {sop}: {why}" for sop, why in o.failed]
    return "\n".join(lines)
