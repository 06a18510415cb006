"""De-identification: salted pseudonyms for patient/series ids, and the PHI attributes that must never leave.

Ids are replaced by ``HMAC-SHA256(salt, kind + ":" + id)`` truncated to 16 hex digits (64 bits: collisions are
negligible at hospital scale, and without the salt the mapping cannot be recomputed from a guessed id). The same
salt gives the same pseudonym across runs, so shards of one patient ingested twice stay linked; a different salt
unlinks them. Nothing but these pseudonyms is copied from a header into shards, manifest or logs: pixel data,
geometry (spacing, position) and Modality are the only other header values read, and the PS3.15 Annex E basic
profile attributes listed in ``PHI_KEYWORDS`` are used only to build pseudonyms (ids) or not at all.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from medray.config import ConfigError

# The demo's salt, passed explicitly by the demo only (its data is synthetic/public). It is public, so pseudonyms
# made with it can be recomputed by anyone who knows a source id: real data needs --salt, --salt-file or MEDRAY_SALT,
# and ingest refuses to run without one rather than fall back to this.
DEMO_SALT = "medray-public-demo-salt-v1"
SALT_ENV = "MEDRAY_SALT"

# PS3.15 Annex E basic application level confidentiality profile: the attributes a test greps outputs for.
PHI_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientSex", "PatientAge",
    "PatientAddress", "PatientTelephoneNumbers", "OtherPatientIDs", "OtherPatientNames", "EthnicGroup",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID", "MediaStorageSOPInstanceUID",
    "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime", "SeriesTime", "AcquisitionTime",
    "ContentTime", "AccessionNumber", "StudyID", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord", "StationName",
    "DeviceSerialNumber", "RequestingPhysician", "StudyDescription", "SeriesDescription",
)


def resolve_salt(salt: str | None, salt_file: Path | None) -> str:
    """The salt to use: ``salt`` if given, else the stripped content of ``salt_file``, else env MEDRAY_SALT.
    No salt at all, or an empty one, is refused (pseudonyms would be guessable)."""
    if salt is not None and salt_file is not None:
        raise ConfigError("give either --salt or --salt-file, not both")
    if salt_file is not None:
        p = Path(salt_file)
        if not p.is_file():
            raise ConfigError(f"--salt-file {str(p)!r} does not exist or is not a file")
        salt = p.read_text().strip()
        if not salt:
            raise ConfigError(f"--salt-file {str(p)!r} is empty; it must hold a non-empty salt")
        return salt
    if salt is None:
        salt = os.environ.get(SALT_ENV)
        if salt is None:
            raise ConfigError(f"no pseudonymisation salt: give --salt or --salt-file, or set {SALT_ENV} "
                              "(keep it secret and the same across runs so a patient's shards stay linked)")
    if not salt:
        raise ConfigError("--salt must not be empty")
    return salt


def pseudonym(salt: str, kind: str, source_id: str) -> str:
    """Stable pseudonym for ``source_id`` of ``kind`` ('patient', 'series'): a kind letter + 16 hex digits."""
    digest = hmac.new(salt.encode(), f"{kind}:{source_id}".encode(), hashlib.sha256).hexdigest()
    return f"{kind[0]}{digest[:16]}"
