"""HTTP tests through a running Serve app (the serving stack, medray/serve/stack.py, once for the module, with a
tiny seeded checkpoint) against a real tansu broker: every endpoint with PNG, NIfTI and DICOM bodies, α
following each patient's vitals, and each error class. The app is shut down at the end."""
import gzip
import io
import json
import os
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import requests
import torch
from PIL import Image

from medray.models.cgan import CGANConfig, build_cgan_generator
from medray.models.checkpoint import save_checkpoint
from medray.tasks import load
from medray.models.sr_generator import SRGeneratorConfig, build_generator
from tests.test_serve_codecs import TEST_FILES, _check_derived, _multiframe, _png, _volume

TOKEN = "test-token-7"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
pytestmark = pytest.mark.slow  # one Serve deployment for the module: ~90 s on 2 cores

VITALS = {"P-calm": (62.0, 99.0, 36.6, 0.1), "P-fever": (138.0, 86.0, 39.6, 0.9)}


def _checkpoints(root: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    cfg = SRGeneratorConfig(in_channels=1, scale=2, width=8, depth=1)
    sr = save_checkpoint(root / "iotgan.pt", kind="iotgan", config=cfg, state_dict=build_generator(cfg).state_dict())
    ccfg = CGANConfig(width=8, n_downs=3)
    cg = save_checkpoint(root / "pixmed.pt", kind="pixmed", config=ccfg,
                         state_dict=build_cgan_generator(ccfg).state_dict())
    return sr, cg


def _produce_vitals(bootstrap: str) -> None:
    from kafka import KafkaProducer

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    p = KafkaProducer(bootstrap_servers=bootstrap)
    for pid, (hr, spo2, temp, mob) in VITALS.items():
        msg = {"v": 1, "patient_id": pid, "ts": now, "heart_rate": hr, "spo2": spo2, "temperature": temp,
               "mobility": mob}
        p.send("medray.vitals", key=pid.encode(), value=json.dumps(msg).encode())
    p.flush(10)
    p.close()


@pytest.fixture(scope="module")
def app(ray_session, kafka_bootstrap, tmp_path_factory):
    from medray.ports import free_port
    from medray.serve.stack import serving_stack

    sr, cg = _checkpoints(tmp_path_factory.mktemp("ckpt"))
    with pytest.MonkeyPatch.context() as mp:
        # the builder reads the token where the app is built (here); only its SHA-256 reaches the replicas
        mp.setenv("MEDRAY_API_TOKEN", TOKEN)
        with serving_stack(
            checkpoint=sr, synth_checkpoint=cg, kafka=kafka_bootstrap, port=free_port(), host="127.0.0.1",
            args={"max_body_mb": 1.0, "max_voxels": 2**20, "vitals_group": "serve-test"},
            deployments={**{name: {"ray_actor_options": {"num_cpus": 0.1}}
                            for name in ("MedrayIngress", "Enhancer", "Synthesizer", "VitalsService")},
                         # a short model queue, so that test_burst_beyond_the_queue_is_refused_not_hung can fill it
                         "Enhancer": {"ray_actor_options": {"num_cpus": 0.1}, "max_ongoing_requests": 1,
                                      "max_queued_requests": 2, "autoscaling_config": None, "num_replicas": 1}},
        ) as stack:
            mp.delenv("MEDRAY_API_TOKEN")
            _produce_vitals(kafka_bootstrap)
            url = stack.url
            deadline = time.monotonic() + 60
            while any(requests.get(f"{url}/v1/vitals/{p}", headers=AUTH, timeout=10).status_code != 200
                      for p in VITALS):
                assert time.monotonic() < deadline, "vitals never reached the cache"
                time.sleep(0.5)
            yield {"url": url, "ckpt": sr}


def post(app, path, body, media, **params):
    return requests.post(f"{app['url']}{path}", params=params, data=body,
                         headers={**AUTH, "Content-Type": media}, timeout=120)


def _headers_ok(r):
    assert r.status_code == 200, r.text
    assert float(r.headers["X-Medray-Alpha"]) >= 0
    assert r.headers["X-Medray-Model"].startswith("iotgan:") and "untrained" not in r.headers["X-Medray-Model"]


@pytest.mark.parametrize("dtype,peak", [(np.uint8, 255), (np.uint16, 65535)])
def test_enhance_png(app, dtype, peak):
    arr = (np.random.default_rng(0).random((24, 20)) * peak).astype(dtype)
    r = post(app, "/v1/enhance", _png(arr), "image/png", patient_id="P-calm", scale=2)
    _headers_ok(r)
    out = np.asarray(Image.open(io.BytesIO(r.content)))
    assert out.shape == (48, 40) and out.dtype == dtype
    assert r.headers["X-Medray-Vitals-Ts"] != "missing"


def test_enhance_nifti_volume(app):
    img = _volume((16, 12, 3))
    r = post(app, "/v1/enhance", gzip.compress(img.to_bytes()), "application/gzip", patient_id="P-fever")
    _headers_ok(r)
    back = nib.Nifti1Image.from_bytes(gzip.decompress(r.content))
    assert back.shape == (32, 24, 3)
    np.testing.assert_allclose(back.header.get_zooms(), (1.0, 1.25, 3.0))
    data = np.asarray(back.dataobj)
    assert data.min() >= img.get_fdata().min() - 1e-3 and data.max() <= img.get_fdata().max() + 1e-3


@pytest.mark.parametrize("which", ["single", "multi"])
def test_enhance_dicom(app, which):
    body = (TEST_FILES / "MR_small.dcm").read_bytes() if which == "single" else _multiframe(2)
    r = post(app, "/v1/enhance", body, "application/dicom", patient_id="P-calm")
    _headers_ok(r)
    src = pydicom.dcmread(io.BytesIO(body))
    ds, px = _check_derived(src, r.content, 2, 1 if which == "single" else 2)
    assert "alpha" in ds.DerivationDescription and r.headers["X-Medray-Model"] in ds.DerivationDescription


def test_alpha_follows_each_patients_vitals(app):
    png = _png((np.arange(16 * 16).reshape(16, 16) % 251).astype(np.uint8))
    model = load(app["ckpt"]).model
    alphas = {}
    for pid, vit in VITALS.items():
        r = post(app, "/v1/enhance", png, "image/png", patient_id=pid)
        _headers_ok(r)
        assert r.headers["X-Medray-Alpha-Source"] == "vitals"
        alphas[pid] = float(r.headers["X-Medray-Alpha"])
        with torch.no_grad():  # the generator's own α for these vitals
            expected = float(model.alpha_for(torch.tensor([vit]), 1)[0][0])
        assert alphas[pid] == pytest.approx(expected, abs=1e-5)
        v = requests.get(f"{app['url']}/v1/vitals/{pid}", headers=AUTH, timeout=10).json()
        assert v["alpha"] == pytest.approx(expected, abs=1e-5) and v["heart_rate"] == vit[0]
    assert abs(alphas["P-calm"] - alphas["P-fever"]) > 1e-4
    r = post(app, "/v1/enhance", png, "image/png", patient_id="P-nobody")
    assert r.headers["X-Medray-Vitals-Ts"] == "missing"
    assert float(r.headers["X-Medray-Alpha"]) == pytest.approx(model.cfg.alpha_default)
    r = post(app, "/v1/enhance", png, "image/png", patient_id="P-fever", alpha=0.25)
    assert float(r.headers["X-Medray-Alpha"]) == pytest.approx(0.25) and r.headers["X-Medray-Alpha-Source"] == "explicit"


def _bodies():
    return {"png": (_png((np.random.default_rng(2).random((20, 24)) * 255).astype(np.uint8)), "image/png"),
            "nifti": (_volume((12, 10, 3)).to_bytes(), "application/x-nifti"),
            "dicom": ((TEST_FILES / "MR_small.dcm").read_bytes(), "application/dicom")}


@pytest.mark.parametrize("fmt", ["png", "nifti", "dicom"])
def test_augment_classic_and_render(app, fmt):
    body, media = _bodies()[fmt]
    r = post(app, "/v1/augment", body, media, mode="classic", n=3, seed=7)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["files"] == [f"variant_{i:03d}.png" for i in range(3)] and manifest["seed"] == 7
    imgs = [np.asarray(Image.open(io.BytesIO(z.read(f)))) for f in manifest["files"]]
    assert imgs[0].dtype == (np.uint8 if fmt == "png" else np.uint16)
    assert not np.array_equal(imgs[0], imgs[1])
    again = post(app, "/v1/augment", body, media, mode="classic", n=3, seed=7)
    assert again.content == r.content  # seeded
    r = post(app, "/v1/render", body, media)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    r = post(app, "/v1/enhance", body, media, format="png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"


def test_augment_synthesize(app):
    labels = np.zeros((20, 28), np.uint8)
    labels[5:12, 6:14] = 2
    labels[7:10, 8:11] = 4
    r = post(app, "/v1/augment", _png(labels), "image/png", mode="synthesize", n=2, seed=1)
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(z.namelist())
    assert {"mask_000.png", "mask_001.png", "synthetic_000.png", "synthetic_001.png", "manifest.json"} <= names
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(z.read("mask_000.png")))), labels)
    syn = np.asarray(Image.open(io.BytesIO(z.read("synthetic_000.png"))))
    assert syn.shape == (20, 28) and syn.dtype == np.uint16
    assert json.loads(z.read("manifest.json"))["model"].startswith("pixmed:")
    bad = labels.copy()
    bad[0, 0] = 3
    r = post(app, "/v1/augment", _png(bad), "image/png", mode="synthesize", n=1)
    assert r.status_code == 400 and r.json()["error"] == "bad_mask"


def test_get_endpoints(app):
    u = app["url"]
    assert requests.get(f"{u}/healthz", timeout=10).json()["status"] == "ok"
    models = requests.get(f"{u}/v1/models", headers=AUTH, timeout=10).json()
    assert models["enhancer"]["scale"] == 2 and models["enhancer"]["untrained"] is False
    assert models["synthesizer"]["kind"] == "pixmed"
    pats = requests.get(f"{u}/v1/vitals", headers=AUTH, timeout=10).json()["patients"]
    assert {p["patient_id"] for p in pats} >= set(VITALS)
    r = requests.get(f"{u}/v1/vitals/P-nobody", headers=AUTH, timeout=10)
    assert r.status_code == 404 and set(r.json()) == {"error", "detail"}
    for path in ("/openapi.json", "/docs"):  # the API's map is behind the token too
        assert requests.get(f"{u}{path}", timeout=10).status_code == 401
    assert "/v1/enhance" in requests.get(f"{u}/openapi.json", headers=AUTH, timeout=10).json()["paths"]
    docs = requests.get(f"{u}/docs", headers=AUTH, timeout=10)
    assert docs.status_code == 200 and "/v1/enhance" in docs.text  # the schema is embedded: no token-less fetch
    page = requests.get(f"{u}/", timeout=10)
    assert page.status_code == 200 and "v1/enhance" in page.text and '<script src="viewer.js">' in page.text
    assert "<style>" not in page.text and "<script>" not in page.text  # nothing inline for the CSP to allow
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
    js = requests.get(f"{u}/viewer.js", timeout=10)
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript") and "fetch(" in js.text
    assert requests.get(f"{u}/viewer.css", timeout=10).headers["content-type"].startswith("text/css")
    for r in (page, js, docs, requests.get(f"{u}/healthz", timeout=10), requests.get(f"{u}/v1/models", timeout=10)):
        assert r.headers["X-Content-Type-Options"] == "nosniff", r.url


def test_error_classes_and_the_replica_keeps_serving(app):
    u, png = app["url"], _png(np.zeros((8, 8), np.uint8))

    def check(r, status, error=None):
        assert r.status_code == status, (status, r.status_code, r.text)
        body = r.json()
        assert set(body) == {"error", "detail"} and body["detail"]
        if error:
            assert body["error"] == error

    check(requests.post(f"{u}/v1/enhance", data=png, headers={"Content-Type": "image/png"}, timeout=10), 401)
    check(requests.post(f"{u}/v1/enhance", data=png, timeout=10,
                        headers={"Content-Type": "image/png", "Authorization": "Bearer wrong"}), 401)
    check(post(app, "/v1/enhance", b"hello", "text/plain"), 415)
    check(post(app, "/v1/enhance", png, "image/jpeg"), 415)
    check(post(app, "/v1/enhance", b"\0" * (1_100_000), "image/png"), 413)  # body limit 1 MiB
    hdr = nib.Nifti1Header()
    hdr.set_data_shape((2000, 2000, 2000))
    check(post(app, "/v1/enhance", hdr.binaryblock + b"\0" * 4, "application/x-nifti"), 413, "too_large")
    check(post(app, "/v1/enhance", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "image/png"), 400)
    check(post(app, "/v1/enhance", b"garbage" * 50, "application/dicom"), 400)
    check(post(app, "/v1/enhance", png, "image/png", scale=3), 422, "bad_parameter")
    check(post(app, "/v1/enhance", png, "image/png", scale="abc"), 422, "bad_parameter")
    check(post(app, "/v1/enhance", png, "image/png", alpha=7.5), 422)
    check(post(app, "/v1/enhance", png, "image/png", patient_id="Robert'); DROP"), 422)
    check(post(app, "/v1/augment", png, "image/png", mode="bogus"), 422)
    check(post(app, "/v1/augment", png, "image/png", mode="classic", n=10_000), 422)
    check(post(app, "/v1/augment", _bodies()["nifti"][0], "application/x-nifti", mode="synthesize"), 415)
    r = post(app, "/v1/enhance", png, "image/png")
    assert r.status_code == 200  # still serving after every refusal


@pytest.mark.skipif(not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()),
                    reason="needs Debian's chromium and chromedriver")
def test_viewer_in_headless_chromium(app, tmp_path):
    """The web viewer, driven in a real browser: token, patient, upload, enhanced image and α appear."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    scan = tmp_path / "slice.png"
    yy, xx = np.mgrid[:48, :48]
    scan.write_bytes(_png((((xx - 24) ** 2 + (yy - 24) ** 2 < 300) * 200 + 30).astype(np.uint8)))
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    # no background networking: this machine's closed network refuses Chromium's own connections
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,1000",
                 "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(app["url"] + "/")
        driver.find_element(By.ID, "token").send_keys(TOKEN + Keys.TAB)
        wait.until(lambda d: any(o.get_attribute("value") == "P-fever"
                                 for o in d.find_elements(By.CSS_SELECTOR, "#patient option")))
        Select(driver.find_element(By.ID, "patient")).select_by_value("P-fever")
        wait.until(lambda d: "α these vitals give" in d.find_element(By.ID, "vitals").text)
        driver.find_element(By.ID, "file").send_keys(str(scan))
        driver.find_element(By.ID, "go").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text == "done")
        width = driver.execute_script("return document.getElementById('after').naturalWidth")
        assert width == 96  # 48 px × scale 2, decoded by the browser
        assert driver.execute_script("return document.getElementById('before').naturalWidth") == 48
        meta = driver.find_element(By.ID, "meta").text
        assert meta.startswith("α ") and "(vitals)" in meta and "iotgan:" in meta
        shot = Path(os.environ.get("MEDRAY_VIEWER_SCREENSHOT", tmp_path / "viewer.png"))
        driver.save_screenshot(str(shot))  # set MEDRAY_VIEWER_SCREENSHOT to keep it for a look by eye
    finally:
        driver.quit()


def test_metrics_expose_requests_latency_alpha_and_vitals(app):
    from prometheus_client.parser import text_string_to_metric_families

    def scrape() -> dict:
        r = requests.get(f"{app['url']}/metrics", timeout=30)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(r.text) for s in fam.samples}

    def enhanced(m: dict) -> float:
        return m.get(("medray_http_requests_total", (("method", "POST"), ("route", "/v1/enhance"),
                                                      ("status", "200"))), 0.0)

    before = scrape()
    arr = (np.random.default_rng(1).random((16, 16)) * 255).astype(np.uint8)
    r = post(app, "/v1/enhance", _png(arr), "image/png", patient_id="P-fever")
    assert r.status_code == 200
    requests.get(f"{app['url']}/v1/vitals/P-calm", headers=AUTH, timeout=30)
    after = scrape()
    assert enhanced(after) == enhanced(before) + 1
    key = ("medray_http_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/enhance")))
    assert after[key] >= 1
    # route templates, never raw paths: no pseudonym in any label
    assert ("medray_http_requests_total", (("method", "GET"), ("route", "/v1/vitals/{patient_id}"),
                                            ("status", "200"))) in after
    assert not any("P-calm" in str(labels) for _, labels in after)
    assert after[("medray_enhance_alpha_count", (("source", "vitals"),))] >= 1
    assert after[("medray_vitals_up", ())] == 1.0

    def total(name: str) -> float | None:  # over the vitals shards (label shard)
        vals = [v for (n, _), v in after.items() if n == name]
        return sum(vals) if vals else None

    assert total("medray_vitals_messages_total") >= len(VITALS)
    assert total("medray_vitals_dead_lettered_total") is not None
    assert total("medray_vitals_consumer_lag_messages") is not None
    assert total("medray_vitals_staleness_max_seconds") >= 0


def test_burst_beyond_the_queue_is_refused_not_hung(app):
    """The fixture's Enhancer takes 1 request at a time with 2 queued: a burst of 24 gets 503 overloaded with
    Retry-After for what does not fit, quickly, and the rest are served."""
    from concurrent.futures import ThreadPoolExecutor

    png = _png((np.random.default_rng(5).random((384, 384)) * 255).astype(np.uint8))
    refused = []
    t0 = time.monotonic()
    for _ in range(3):  # a burst is a race against the model: up to three, until one overflows the queue
        with ThreadPoolExecutor(24) as pool:
            rs = list(pool.map(lambda _i: post(app, "/v1/enhance", png, "image/png"), range(24)))
        assert {r.status_code for r in rs} <= {200, 503}, {r.status_code: r.text for r in rs}
        refused += [r for r in rs if r.status_code == 503]
        if refused:
            break
    assert refused and time.monotonic() - t0 < 100
    for r in refused:
        assert r.json()["error"] == "overloaded" and int(r.headers["Retry-After"]) >= 1
    assert post(app, "/v1/enhance", png, "image/png").status_code == 200  # and it serves again afterwards


def test_pacs_round_trip_through_the_serve_app(app, orthanc):
    from pydicom.uid import generate_uid

    from medray.serve.pacs import pacs_enhance
    from tests.test_pacs import _client, _derived_of, _mr_slices, _series, _upload

    client, study = _client(orthanc), generate_uid()
    mr = _series("MR_small.dcm", _mr_slices(3), study, 7, "MR via Serve", 2.0)
    _upload(client, study, [mr])
    outcomes = pacs_enhance(orthanc["dicomweb"], study, serve=app["url"], serve_token=TOKEN, progress=False)
    assert [(o.stored, o.already, o.failed) for o in outcomes] == [(3, 0, [])]
    derived = _derived_of(client, study, mr)
    assert len({d.SeriesInstanceUID for d in derived}) == 1 and derived[0].SeriesInstanceUID == outcomes[0].derived_series
    assert [int(d.InstanceNumber) for d in derived] == [1, 2, 3]
    assert all((d.Rows, d.Columns) == (s.Rows * 2, s.Columns * 2) for s, d in zip(mr, derived))
    assert all("iotgan:" in d.DerivationDescription for d in derived)  # made by the served model
