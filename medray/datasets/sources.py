"""The registry of real scans that installed packages ship, and the fixed role each plays (train or eval).

Every entry is a real acquisition (or an average of real acquisitions, for templates) found on disk after
``./scripts/setup``: PyPI wheels in the venv, Debian packages (installed by setup when it runs as root), and the
pyradiomics 3.0.1 source archive that setup downloads once into the data cache (``data_dir()``). Nothing is
fetched at run time.

Roles are fixed here, by *family*: a family is one subject, or all images derived from one population template
(every ICBM152-based image is the family ``icbm152``), and a family never appears in two roles. The EVAL role is the
documented held-out set (docs/data.md): no training run may read it.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

TRAIN, EVAL = "train", "eval"
ROLES = (TRAIN, EVAL)

PYRADIOMICS_SDIST = "pyradiomics-3.0.1.tar.gz"
PYRADIOMICS_SHA256 = "47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5"
PYRADIOMICS_DATA = "pyradiomics-3.0.1/data"
MRICRON = Path("/usr/share/mricron/templates")
ITK_DATA = Path("/usr/share/doc/insighttoolkit5-examples/examples/Data")
INVESALIUS = Path("/usr/share/doc/invesalius-examples/examples")

# ICBM152-derived files that mricron-data also ships: label atlases with no intensity image, so none is used;
# listed so that nobody adds one to the evaluation role by mistake (they are family "icbm152").
ICBM152_FAMILY_UNUSED = ("mricron-data: HarvardOxford-cort-maxprob-thr0-1mm.nii.gz (labels, MNI152 space)",
                         "mricron-data: JHU-WhiteMatter-labels-{1,2}mm.nii.gz (labels, ICBM-DTI-81 / MNI152 space)")


def data_dir() -> Path:
    """Where setup keeps downloaded source archives: ``$MEDRAY_DATA``, else ``<venv>/share/medray-data``."""
    env = os.environ.get("MEDRAY_DATA")
    return Path(env) if env else Path(sys.prefix) / "share" / "medray-data"


def _nilearn_file(attr: str) -> Path | None:
    try:
        from nilearn import datasets
    except ImportError:
        return None
    return Path(getattr(datasets, attr))


def _pydicom_file(name: str) -> Path | None:
    try:
        import pydicom.data
    except ImportError:
        return None
    return Path(pydicom.data.__file__).parent / "test_files" / name


@dataclass(frozen=True)
class Source:
    key: str  # also the subject id written to the corpus
    family: str  # subject or template population; one family → one role
    role: str  # TRAIN or EVAL
    modality: str  # MR or CT
    what: str
    origin: str  # how it gets onto the machine
    licence: str
    files: dict = field(default_factory=dict)  # name → Path (Debian/pip files) or member name in the sdist
    labels: str | None = None  # "tissue" (10/11/12), "tumour" (BraTS 4), or None
    in_archive: bool = False  # files are members of the pyradiomics sdist

    def paths(self) -> dict[str, Path]:
        return {k: Path(v) for k, v in self.files.items()}

    def missing(self) -> list[str]:
        """What is not on disk (empty when the source can be built)."""
        if self.in_archive:
            sdist = data_dir() / PYRADIOMICS_SDIST
            return [] if sdist.is_file() else [str(sdist)]
        return [f"{k}: {v}" for k, v in self.files.items() if v is None or not Path(v).is_file()]


def _pyradiomics(key: str, family: str, role: str, modality: str, what: str, labels: str | None) -> Source:
    stem = key.removeprefix("pyradiomics-")
    files = {"image": f"{PYRADIOMICS_DATA}/{stem}_image.nrrd"}
    if labels:
        files["label"] = f"{PYRADIOMICS_DATA}/{stem}_label.nrrd"
    return Source(key, family, role, modality, what,
                  f"PyPI sdist pyradiomics==3.0.1 (setup: pip download --no-binary :all: → $MEDRAY_DATA/{PYRADIOMICS_SDIST})",
                  "BSD-3-Clause (pyradiomics; test cases shipped in its source archive)", files, labels, in_archive=True)


SOURCES: tuple[Source, ...] = (
    Source("mni152-2009a", "icbm152", TRAIN, "MR",
           "MNI152 ICBM 2009a nonlinear symmetric template, 1 mm: T1 + GM/WM probability maps (average of 152 subjects)",
           "PyPI wheel nilearn==0.14.1 (nilearn/datasets/data)",
           "nilearn BSD-3-Clause; ICBM 2009a templates: McConnell Brain Imaging Centre licence (free use with notice)",
           {"t1": _nilearn_file("MNI152_FILE_PATH"), "gm": _nilearn_file("GM_MNI152_FILE_PATH"),
            "wm": _nilearn_file("WM_MNI152_FILE_PATH")}, labels="tissue"),
    Source("colin27", "colin27", TRAIN, "MR",
           "Colin27 (ch2better): one subject, average of 27 T1 scans, skull-stripped, 0.5 mm",
           "Debian mricron-data (/usr/share/mricron/templates)", "BSD-3-Clause (mricron-data; Colin27 freely distributed)",
           {"t1": MRICRON / "ch2better.nii.gz"}, labels="tissue"),
    Source("inia19-macaque", "inia19", TRAIN, "MR",
           "INIA19 rhesus macaque T1 template, brain only, 0.5 mm (non-human primate)",
           "Debian mricron-data (/usr/share/mricron/templates)", "CC-BY (INIA19, as stated in the file header)",
           {"t1": MRICRON / "inia19-t1-brain.nii.gz"}),
    Source("invesalius-cranium", "invesalius-cranium", TRAIN, "CT",
           "head CT 'ProMED CT 0051', 108 axial slices 256², 0.96×0.96×1.5 mm, HU",
           "Debian invesalius-examples (Cranium.inv3)", "GPL-2 (invesalius-examples)",
           {"inv3": INVESALIUS / "Cranium.inv3"}),
    _pyradiomics("pyradiomics-lung1", "pyradiomics-lung1", TRAIN, "CT", "chest CT with a lung lesion, HU, 512² × 48", None),
    _pyradiomics("pyradiomics-brain1", "pyradiomics-brain1", TRAIN, "MR",
                 "contrast-enhanced T1 brain MR, 256² × 25, enhancing lesion ROI", "tumour"),
    # --- evaluation: never read by training ---
    Source("itk-kmeans-t1", "itk-kmeans", EVAL, "MR",
           "T1 head MR of one subject, 128×128×62 at 2×2×3 mm, with ITK's 7-class k-means segmentation + skull strip",
           "Debian insighttoolkit5-examples (examples/Data)", "Apache-2.0 (ITK examples data)",
           {"t1": ITK_DATA / "KmeansTest_T1UCharRaw.nii.gz",
            "kmeans": ITK_DATA / "KmeansTest_T1KmeansPrelimSegmentation.nii.gz",
            "skullstrip": ITK_DATA / "KmeansTest_T1RawSkullStrip.nii.gz"}, labels="tissue"),
    _pyradiomics("pyradiomics-brain2", "pyradiomics-brain2", EVAL, "MR",
                 "contrast-enhanced T1 brain MR, 256² × 23, small enhancing lesion ROI", "tumour"),
    _pyradiomics("pyradiomics-lung2", "pyradiomics-lung2", EVAL, "CT", "chest CT with a lung lesion, HU, 512² × 61", None),
    Source("pydicom-test-files", "pydicom-test-files", EVAL, "CT+MR",
           "pydicom test DICOM: CT_small (NEMA WG04, 128²), MR_small (64²), 693_J2KI (CQ500 head CT, JPEG 2000, 512²)",
           "PyPI wheel pydicom==3.0.2 (pydicom/data/test_files)", "MIT (pydicom; test files distributed with it)",
           {n: _pydicom_file(n) for n in ("CT_small.dcm", "MR_small.dcm", "693_J2KI.dcm")}),
)

# Left out on purpose (docs/data.md says why): pyradiomics breast1 (45×120×21 crop: upsampled 2–5× to 256² it would
# teach blur as "high resolution"); dipy's bundled files (DWI/test volumes; its real datasets download at run time);
# heudiconv's test DICOMs (localiser, phantom, DWI b0; the package pulls nipype); nibabel example4d (already the
# real-scan evaluation of medray.evaluate.realscan, so kept out of every training corpus).


def by_role(role: str) -> list[Source]:
    return [s for s in SOURCES if s.role == role]


def check_roles(sources=SOURCES) -> None:
    """Raise ValueError when a family (subject or template population) sits in more than one role."""
    seen: dict[str, str] = {}
    for s in sources:
        if s.role not in ROLES:
            raise ValueError(f"source {s.key}: role {s.role!r} is not one of {ROLES}")
        if seen.setdefault(s.family, s.role) != s.role:
            raise ValueError(f"family {s.family!r} is in both roles {seen[s.family]} and {s.role}")
