"""The one list of vitals fields: order, units, plausibility ranges and codes. Every layer imports it from here.

A leaf contract: it imports nothing from medray but ``medray.config``, so ingest, shards, data, models, the
vitals consumer and serve may all import it without breaking the one-way data flow.

Ranges are *sensor plausibility* limits, not clinical normals: a value outside them is a device or transport
fault, never a patient state worth conditioning a model on. Bounds are inclusive.

| field       | unit (UCUM) | range        | code                  | why these limits                          |
|-------------|-------------|--------------|-----------------------|-------------------------------------------|
| heart_rate  | /min        | 20 .. 250    | LOINC 8867-4          | below: asystole/lead-off; above: beyond ward monitors |
| spo2        | %           | 50 .. 100    | LOINC 59408-5, 2708-6 | uncalibrated below ~70 %; >100 % impossible |
| temperature | Cel         | 25.0 .. 45.0 | LOINC 8310-5          | see below                                 |
| mobility    | 1 (0..1)    | 0.0 .. 1.0   | medray ``mobility``   | share of the window with movement (accelerometer) |

Temperature 25 °C .. 45 °C (ingest used to say 30, the stream 25): a patient whose monitor still streams a
heart rate can be as cold as severe accidental hypothermia (Swiss stage III, 24-28 °C core, pulse present) and
is re-warmed from there, so 30 °C would refuse real readings of exactly the patients who matter; below ~24 °C
(stage IV) there are no vital signs to stream, and above 45 °C (beyond lethal hyperthermia) only a faulty or
sun-baked probe reads. Low-reading hypothermia thermometers are specified from 25 °C for the same reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from medray.config import InputError

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# medray's own code system for what LOINC has no vital-sign code for (mobility).
MEDRAY_CODES = "urn:medray:codesystem:vitals"
VITAL_SIGNS_CATEGORY = ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")


def _same(x: float) -> float:
    return x


def _fahrenheit_to_celsius(x: float) -> float:
    return (x - 32.0) * 5.0 / 9.0


@dataclass(frozen=True)
class VitalField:
    """One vital: its name (shard column, JSON key), canonical UCUM unit, inclusive plausible range, the
    (system, code) pairs that identify it in FHIR (first = the one medray writes), and the UCUM units it is
    accepted in, each with its conversion to the canonical unit."""

    name: str
    unit: str
    display: str
    lo: float
    hi: float
    codes: tuple[tuple[str, str], ...]
    units: tuple[tuple[str, Callable[[float], float]], ...]

    def convert(self, value: float, unit: str | None) -> float:
        """``value`` in ``unit`` (UCUM code) → canonical unit; InputError('bad_unit') names the valid units."""
        for code, f in self.units:
            if unit == code:
                return f(value)
        raise InputError("bad_unit", f"{self.name} in unit {str(unit)[:20]!r}; accepted: {[c for c, _ in self.units]}")

    def check(self, value) -> float:
        """A finite number inside [lo, hi] or InputError('bad_type' | 'out_of_range')."""
        if type(value) not in (int, float):  # exact: bool is refused
            raise InputError("bad_type", f"{self.name} must be a number, got {type(value).__name__}")
        if not (math.isfinite(value) and self.lo <= value <= self.hi):
            raise InputError("out_of_range", f"{self.name}={value!r} is outside the accepted range "
                             f"[{self.lo}, {self.hi}]")
        return value


FIELDS: tuple[VitalField, ...] = (
    VitalField("heart_rate", "/min", "Heart rate", 20.0, 250.0, ((LOINC, "8867-4"),),
               (("/min", _same), ("{beats}/min", _same))),
    VitalField("spo2", "%", "Oxygen saturation", 50.0, 100.0, ((LOINC, "59408-5"), (LOINC, "2708-6")),
               (("%", _same),)),
    VitalField("temperature", "Cel", "Body temperature", 25.0, 45.0, ((LOINC, "8310-5"),),
               (("Cel", _same), ("[degF]", _fahrenheit_to_celsius))),
    VitalField("mobility", "1", "Mobility (fraction of time moving)", 0.0, 1.0, ((MEDRAY_CODES, "mobility"),),
               (("1", _same),)),
)
# The order the models take vitals in (raw units) and the shard/table column names.
VITALS_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS)
RANGES: dict[str, tuple[float, float]] = {f.name: (f.lo, f.hi) for f in FIELDS}
BY_NAME: dict[str, VitalField] = {f.name: f for f in FIELDS}
BY_CODE: dict[tuple[str, str], VitalField] = {c: f for f in FIELDS for c in f.codes}
