"""A real Orthanc PACS with its DICOMweb plugin, once per test session (Debian packages ``orthanc`` and
``orthanc-dicomweb``, installed by ./scripts/setup). Loopback HTTP on a free port, storage and index in a
temporary folder, no DICOM listener, no remote access, no authentication; stopped by its PID at teardown."""
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

PLUGIN_NAME = "libOrthancDicomWeb.so"


def dicomweb_plugin() -> Path | None:
    """The plugin's shared library, as dpkg lists it."""
    try:
        files = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    hits = [Path(f) for f in files if Path(f).name.startswith(PLUGIN_NAME) and Path(f).is_file()]
    return min(hits, key=lambda p: len(p.name)) if hits else None


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    from medray.ports import HOST, free_port

    exe, plugin = shutil.which("Orthanc"), dicomweb_plugin()
    if exe is None or plugin is None:
        pytest.skip("Orthanc or its DICOMweb plugin is not installed (Debian packages orthanc, orthanc-dicomweb: "
                    "./scripts/setup installs them as root)")
    root = tmp_path_factory.mktemp("orthanc")
    port = free_port()
    config = {
        "Name": "medray-test", "StorageDirectory": str(root / "storage"), "IndexDirectory": str(root / "index"),
        "HttpPort": port, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomServerEnabled": False, "DicomPort": free_port(),  # older Orthancs ignore the first: a free port then
        "Plugins": [str(plugin)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "HttpTimeout": 60, "StorageCompression": False,
    }
    cfg = root / "orthanc.json"
    cfg.write_text(json.dumps(config))
    log = open(root / "orthanc.log", "wb")
    proc = subprocess.Popen([exe, str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/dicom-web/studies", timeout=2).status_code in (200, 204):
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not start: {(root / 'orthanc.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield {"url": url, "dicomweb": f"{url}/dicom-web", "pid": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
