"""The HTTP ingress (FastAPI on Ray Serve). It validates, decodes and encodes; the models live in their own
deployments (enhancer, synthesizer) and the vitals in theirs. Errors are JSON ``{"error", "detail"}``.

Nothing here logs a patient identifier: the patient id is a pseudonym already, and it is still kept out of logs.
"""

import asyncio
import logging
import re
from pathlib import Path
from typing import Literal

import pydicom
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from ray import serve
from ray.exceptions import ActorUnavailableError, RayActorError

from medray.config import InputError
from medray.serve import augment_zip
from medray.serve.auth import check_bearer
from medray.serve.body import read_limited
from medray.serve.codecs import codec_for, decode, encode
from medray.serve.codecs.png import decode_label_png, encode_png_array
from medray.serve.enhancer import EnhanceJob
from medray.serve.errors import HTTPError, bad_params, is_oom, not_found, to_http, unsupported
from medray.serve.middleware import Hardening
from medray.serve.settings import IngressSettings
from medray.serve.vitals_deployment import VitalsShards
from medray.serve.metrics import instrument, metrics_response

log = logging.getLogger(__name__)
_HERE = Path(__file__).parent
VIEWER_HTML = (_HERE / "viewer.html").read_text()
VIEWER_JS = (_HERE / "viewer.js").read_text()
VIEWER_CSS = (_HERE / "viewer.css").read_text()
# The viewer loads only its own script and stylesheet (no inline code), talks only to this origin, shows the
# images it fetched as blob: URLs, and may not be framed (clickjacking of the token field).
VIEWER_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
_PATIENT_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_EXT = {"image/png": "png", "application/dicom": "dcm", "application/x-nifti": "nii", "application/gzip": "nii.gz"}


api = FastAPI(
    title="medray",
    version="0.1.0",
    description="Super-resolution of medical scans conditioned on live IoT vitals, and mask-conditioned "
                "synthesis. Bodies by Content-Type: image/png, application/x-nifti, application/gzip "
                "(NIfTI .nii.gz), application/dicom. Errors are JSON {error, detail}.",
    docs_url=None, redoc_url=None, openapi_url=None,  # served below, behind the bearer token
)


def _request_timeout_s() -> float | None:
    """The serving replica's deadline (the app object is a copy Serve made; the settings live on the replica)."""
    try:
        return serve.get_replica_context().servable_object.settings.request_timeout_s
    except Exception:  # noqa: BLE001 - not inside a replica (or before its __init__): no deadline
        return None


api.add_middleware(Hardening, timeout_s=_request_timeout_s)
instrument(api)  # request counts, latency and α for GET /metrics


@api.exception_handler(HTTPError)
async def _http_error(_request: Request, exc: HTTPError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)


@api.exception_handler(RequestValidationError)
async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')} (got {e.get('input')!r})"
             for e in exc.errors()]
    return JSONResponse({"error": "bad_parameter", "detail": "; ".join(parts)}, status_code=422)


async def _retrying(call, attempts: int = 4):
    """Model calls are idempotent: when the replica serving one dies mid-request (crash, scale-down, chaos
    drill), send it again; the handle routes it to a live replica. Not after an out-of-memory kill: the same
    request would take the next replica down too (it answers 503 instead, through ``to_http``)."""
    for i in range(attempts):
        try:
            return await call()
        except (RayActorError, ActorUnavailableError) as e:
            if i == attempts - 1 or is_oom(e):
                raise
            await asyncio.sleep(0.05 * (i + 1))


async def _typed(awaitable):
    """Await a handle call or a thread; re-raise medray's typed errors (possibly wrapped by Ray) as HTTPError."""
    try:
        return await awaitable
    except Exception as e:
        http = to_http(e)
        if http is not None:
            raise http from None
        raise


def _check_patient(patient_id: str | None) -> str | None:
    if patient_id is not None and not _PATIENT_RE.match(patient_id):
        raise bad_params("patient_id must be 1-64 characters of A-Z a-z 0-9 _ . - (a pseudonym)")
    return patient_id


@serve.deployment
@serve.ingress(api)
class MedrayIngress:
    def __init__(self, enhancer, vitals, synthesizer, settings: dict | None = None):
        self.enhancer = enhancer
        self.vitals = VitalsShards(vitals if isinstance(vitals, (list, tuple)) else [vitals])  # one handle per shard
        self.synthesizer = synthesizer
        self.settings = IngressSettings(**(settings or {}))
        # pydicom's value-validation warnings quote element values (a PatientName among them): off in the service.
        pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
        pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE
        self._enhancer_info: dict | None = None
        self._decode_slots = asyncio.Semaphore(self.settings.max_concurrent_decodes)

    def _auth(self, request: Request) -> None:
        check_bearer(request.headers.get("authorization"), self.settings.api_token_sha256,
                     insecure_dev=self.settings.insecure_dev, client_host=request.client and request.client.host)

    async def _model_info(self) -> dict:
        if self._enhancer_info is None:
            self._enhancer_info = await _typed(_retrying(lambda: self.enhancer.info.remote()))
        return self._enhancer_info

    async def _decode(self, fn, *args):
        """``fn(*args)`` in a thread, at most ``max_concurrent_decodes`` at once; waiting for a slot is bounded
        by the request deadline. The slot is freed when the thread ends, not when a timed-out request stops
        waiting for it, so the bound holds for the memory actually in use."""
        await self._decode_slots.acquire()
        task = asyncio.ensure_future(asyncio.to_thread(fn, *args))

        def done(t):
            self._decode_slots.release()
            if not t.cancelled():
                t.exception()  # retrieved, so an abandoned failure is not reported as never retrieved

        task.add_done_callback(done)
        return await _typed(asyncio.shield(task))

    async def _latest_vitals(self, patient_id: str | None) -> dict | None:
        """Latest reading if it is fresh enough, else None (→ the model's default α)."""
        if patient_id is None:
            return None
        try:  # vitals condition α but are not needed to enhance: if their deployment is down, α falls back
            v = await asyncio.wait_for(_retrying(lambda: self.vitals.latest(patient_id)), 5.0)
        except (RayActorError, ActorUnavailableError, asyncio.TimeoutError) as e:
            log.warning("vitals unavailable (%s); enhancing with the default alpha", type(e).__name__)
            return None
        if v is None or v["age_s"] > self.settings.max_vitals_age_s:
            return None
        return v

    async def _body(self, request: Request) -> tuple[str, bytes]:
        media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        try:
            codec_for(media)  # 415 before reading a byte of the body
        except InputError as e:
            raise to_http(e) from None
        return media, await read_limited(request, self.settings.max_body_bytes)

    @api.post("/v1/enhance", summary="Super-resolve a PNG / NIfTI volume / DICOM (single or multi-frame)")
    async def enhance(self, request: Request,
                      patient_id: str | None = Query(None, description="pseudonymous patient id; its live vitals set α"),
                      scale: int | None = Query(None, description="must equal the served model's scale"),
                      alpha: float | None = Query(None, description="explicit α override in [0, alpha_max]"),
                      format: Literal["same", "png"] = Query("same", description="png: the middle slice as PNG")):
        """Response: the same format as the input (PNG at its bit depth, NIfTI with the affine updated,
        a derived DICOM), headers ``X-Medray-Alpha``, ``X-Medray-Alpha-Source``, ``X-Medray-Vitals-Ts``
        (ISO-8601 or ``missing``), ``X-Medray-Model``."""
        self._auth(request)
        media, body = await self._body(request)
        _check_patient(patient_id)
        info = await self._model_info()
        if scale is not None and scale != info["scale"]:
            raise bad_params(f"scale={scale} is not served; valid scales are [{info['scale']}]")
        if alpha is not None and not 0.0 <= alpha <= info["alpha_max"]:
            raise bad_params(f"alpha={alpha} is out of range [0, {info['alpha_max']}]")
        dec = await self._decode(decode, media, body, self.settings.limits)
        vit = await self._latest_vitals(patient_id)
        vitals = None if vit is None else [vit["heart_rate"], vit["spo2"], vit["temperature"], vit["mobility"]]
        job = EnhanceJob(dec.slices, vitals, alpha)
        res = await _typed(_retrying(lambda: self.enhancer.enhance.remote(job)))
        s = info["scale"]
        desc = f"medray IoT-GAN x{s} super-resolution; model {info['version']}; alpha {res.alpha:.4f}"
        if format == "png":
            out, media_out = await asyncio.to_thread(encode_png_array, res.slices[len(res.slices) // 2, 0], 8), "image/png"
        else:
            out, media_out = await _typed(asyncio.to_thread(encode, dec, res.slices, s, desc)), dec.media_type
        headers = {"X-Medray-Alpha": f"{res.alpha:.6f}", "X-Medray-Alpha-Source": res.alpha_source,
                   "X-Medray-Vitals-Ts": vit["ts"] if vit else "missing", "X-Medray-Model": info["version"],
                   "Content-Disposition": f'attachment; filename="enhanced.{_EXT.get(media_out, "bin")}"'}
        return Response(out, media_type=media_out, headers=headers)

    @api.post("/v1/render", summary="A slice of any accepted body as an 8-bit PNG (no model; for viewers)")
    async def render(self, request: Request, slice: int | None = Query(None, ge=0, description="default: middle")):
        self._auth(request)
        media, body = await self._body(request)
        dec = await self._decode(decode, media, body, self.settings.limits)
        n = dec.slices.shape[0]
        i = n // 2 if slice is None else slice
        if i >= n:
            raise bad_params(f"slice={i} is out of range; the input has {n} slice(s)")
        return Response(encode_png_array(dec.slices[i, 0], 8), media_type="image/png")

    @api.post("/v1/augment", summary="Augmented images as a ZIP of PNGs + manifest.json",
              response_class=Response, responses={200: {"content": {"application/zip": {}}}})
    async def augment(self, request: Request, mode: Literal["classic", "synthesize"] = Query(...),
                      n: int = Query(4, ge=1), seed: int = Query(0, ge=0)):
        """``classic``: body = a PNG / NIfTI / DICOM slice (the middle one of a volume) → n seeded variants.
        ``synthesize``: body = a label-map PNG (0 background, 10 CSF, 11 GM, 12 WM, BraTS tumour 1/2/4) → n
        synthetic MRI slices from the ghost-U-Net cGAN (the shipped weights unless a checkpoint is configured), for
        the map and n−1 seeded geometric variants of it, each with its own seeded dropout noise. See medray/serve/augment_zip.py."""
        self._auth(request)
        if n > self.settings.max_augment_n:
            raise bad_params(f"n={n} is out of range [1, {self.settings.max_augment_n}]")
        media, body = await self._body(request)
        if mode == "classic":
            dec = await self._decode(decode, media, body, self.settings.limits)
            img = dec.slices[dec.slices.shape[0] // 2, 0]
            bits = 8 if dec.fmt == "png" and dec.meta["bits"] == 8 else 16
            variants = await asyncio.to_thread(augment_zip.classic_variants, img, n, seed)
            files = {f"variant_{i:03d}.png": encode_png_array(v, bits) for i, v in enumerate(variants)}
            manifest = {"mode": mode, "n": n, "seed": seed}
        else:
            if media != "image/png":
                raise unsupported(f"mode=synthesize takes a label-map PNG (image/png), got {media!r}")
            info = await _typed(_retrying(lambda: self.synthesizer.info.remote()))
            if info is None:
                raise HTTPError(503, "not_configured", "no cGAN checkpoint is configured (synth_checkpoint)")
            labels = await self._decode(decode_label_png, body, self.settings.limits)
            masks = await asyncio.to_thread(augment_zip.mask_variants, labels, n, seed)
            # variant i: its geometric variant of the map and its own dropout seed, both derived from ``seed``
            seeds = [augment_zip.variant_seed(seed, i) for i in range(len(masks))]
            images = await _typed(asyncio.gather(*[_retrying(lambda m=m, s=s: self.synthesizer.synthesize.remote(m, s))
                                                   for m, s in zip(masks, seeds)]))
            files = {}
            for i, (m, img) in enumerate(zip(masks, images)):
                files[f"mask_{i:03d}.png"] = augment_zip.label_png(m)
                for c in range(img.shape[0]):
                    suffix = f"_c{c}" if img.shape[0] > 1 else ""
                    files[f"synthetic_{i:03d}{suffix}.png"] = augment_zip.png16(img[c])
            manifest = {"mode": mode, "n": n, "seed": seed, "model": info["version"]}
        return Response(augment_zip.build_zip(files, manifest), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="augment_{mode}.zip"'})

    @api.get("/v1/vitals", summary="Patients (pseudonyms) with vitals in the cache, one page at a time")
    async def vitals_list(self, request: Request, offset: int = Query(0, ge=0),
                          limit: int = Query(100, ge=1, le=1000)):
        self._auth(request)
        return await _typed(self.vitals.page(offset, limit))  # every shard's ids merged, then one page

    @api.get("/v1/vitals/{patient_id}", summary="Latest vitals, rolling window, staleness and the α they give")
    async def vitals_one(self, request: Request, patient_id: str):
        self._auth(request)
        _check_patient(patient_id)
        v = await _typed(self.vitals.latest(patient_id))  # the shard owning the patient's partition
        if v is None:
            raise not_found("no vitals for this patient id")
        fresh = v["age_s"] <= self.settings.max_vitals_age_s
        vec = [v["heart_rate"], v["spo2"], v["temperature"], v["mobility"]] if fresh else None
        a = await _typed(self.enhancer.alpha_for.remote(vec))
        return {**v, "fresh": fresh, **a}

    @api.get("/v1/models", summary="Served models: kind, version, config, metrics")
    async def models(self, request: Request):
        self._auth(request)
        out = {"enhancer": await self._model_info()}
        out["synthesizer"] = await _typed(_retrying(lambda: self.synthesizer.info.remote()))
        return out

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi(self, request: Request):
        self._auth(request)
        return JSONResponse(request.app.openapi())

    @api.get("/docs", include_in_schema=False)
    async def docs(self, request: Request):
        """Swagger UI with the schema embedded (``spec``), since the browser's own fetch of /openapi.json
        would carry no token."""
        self._auth(request)
        return get_swagger_ui_html(openapi_url="", title="medray API",
                                   swagger_ui_parameters={"spec": request.app.openapi()})

    @api.get("/healthz", summary="Liveness and the vitals consumer's counters")
    async def healthz(self):
        stats = await _typed(self.vitals.stats())
        return {"status": "ok", "vitals": stats}

    @api.get("/metrics", summary="Prometheus metrics: requests, latency, α, vitals consumer lag/staleness/dead letters")
    async def metrics(self):
        return await metrics_response(self.vitals)

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def viewer(self):
        return HTMLResponse(VIEWER_HTML, headers=VIEWER_HEADERS)

    @api.get("/viewer.js", include_in_schema=False)
    async def viewer_js(self):
        return Response(VIEWER_JS, media_type="text/javascript", headers=VIEWER_HEADERS)

    @api.get("/viewer.css", include_in_schema=False)
    async def viewer_css(self):
        return Response(VIEWER_CSS, media_type="text/css", headers=VIEWER_HEADERS)
