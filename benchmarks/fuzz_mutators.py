"""Seeded mutants of real scans for benchmarks/fuzz_inputs.py and tests/test_fuzz_subset.py.

Every mutant is a pure function of (seed, index): ``mutant(i)`` rebuilds input ``i`` alone, so a failure in a
10,000-input run is replayed by index. The seeds are in fuzz_seeds.py; the mutators, by what they know of the
bytes: fuzz_bytes.py (nothing: bit flips, truncations, splices, random bytes), fuzz_scans.py (DICOM elements,
the NIfTI-1 header), fuzz_png.py (PNG chunks). Crafted bombs (inputs small on the wire that would cost memory
if trusted) are fuzz_bombs.py's.
"""
from __future__ import annotations

import gzip
import struct

import numpy as np

from benchmarks.fuzz_bytes import GENERIC, bit_flips, random_bytes
from benchmarks.fuzz_png import PNG
from benchmarks.fuzz_scans import DICOM, NIFTI
from benchmarks.fuzz_seeds import INGESTIBLE, MEDIA, SUFFIX, Mutant, Seed, load_seeds

__all__ = ["ALL_MUTATORS", "BY_KIND", "INGESTIBLE", "MEDIA", "SUFFIX", "Mutant", "Seed", "load_seeds", "mutant",
           "mutants"]

BY_KIND = {"dicom": DICOM, "nifti": NIFTI, "png": PNG}
ALL_MUTATORS = sorted({**GENERIC, **DICOM, **NIFTI, **PNG})


# ---------------------------------------------------------------- generation

def mutant(index: int, seed: int = 0, kinds: tuple[str, ...] = ("dicom", "nifti", "png"),
           valid_every: int = 20) -> Mutant:
    """Input ``index`` of the stream ``seed``: every ``valid_every``-th is an unmutated seed (valid input mixed
    in); the rest get one format-aware or generic mutation (a second one 20 % of the time). NIfTI inputs
    are gzipped a quarter of the time (after mutation, so the gzip layer is intact and the inner file is bad)."""
    rng = np.random.default_rng([seed, index])
    kind = kinds[int(rng.integers(len(kinds)))]  # formats equally often, whatever the number of seeds each
    pool = [s for s in load_seeds() if s.kind == kind]
    src = pool[int(rng.integers(len(pool)))]
    data, names = src.data, []
    if not (valid_every and index % valid_every == 0):
        rounds = 2 if rng.random() < 0.2 else 1
        for _ in range(rounds):
            table = BY_KIND[src.kind] if rng.random() < 0.7 else GENERIC
            name = sorted(table)[int(rng.integers(len(table)))]
            try:
                data = table[name](rng, data)
            except (IndexError, ValueError, struct.error):  # an earlier round broke the structure it needs
                name, data = "bit_flips", bit_flips(rng, data) if data else random_bytes(rng, src.data)
            names.append(name)
    kind = src.kind
    if kind == "nifti" and rng.random() < 0.25:
        kind, data = "nifti_gz", gzip.compress(data, compresslevel=1, mtime=0)
    return Mutant(index, src.name, kind, tuple(names), data)


def mutants(n: int, seed: int = 0, kinds: tuple[str, ...] = ("dicom", "nifti", "png"), start: int = 0,
            valid_every: int = 20):
    for i in range(start, start + n):
        yield mutant(i, seed, kinds, valid_every)
