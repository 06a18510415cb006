"""In-plane geometry limits, checked from the header before any pixel is allocated; shared by ingest (the imaging
readers) and serve (the codecs' per-side limit).

An area limit alone lets strips through: a 16384×8 DICOM is 128 k voxels, far inside any voxel limit, but ingest
pads every slice to a square before resizing (``ingest.slicing.pad_square``), so one side of S pixels costs S²
(16384² float32 = 1 GiB, and the anti-aliased resize makes float64 copies of that). Field values:

- ``MAX_SIDE`` 4096: clinical CT/MR matrices are 512² (CT), ≤ 1024² (MR) and 2048² at most (ultra-high-resolution
  CT); twice the largest leaves room, and a 4096² square is 64 MiB as float32.
- ``MAX_ASPECT`` 16: CT slices are square and rectangular-FOV MR is at most ~4:1; beyond 16:1 an image is a strip
  (a stitched localiser, a corrupted Rows/Columns), not a slice: padded to a square it would be ≥ 15/16 padding.
"""
from __future__ import annotations

from medray.config import InputError

MAX_SIDE = 4096
MAX_ASPECT = 16


def check_sides(sides, max_side: int, what: str) -> None:
    """Each in-plane side ≤ ``max_side``, else ``too_large``."""
    if max(sides) > max_side:
        raise InputError("too_large", f"{what} declares sides {tuple(int(s) for s in sides)}; "
                                      f"the limit per side is {max_side}")


def check_aspect(rows: int, cols: int, what: str, max_aspect: int = MAX_ASPECT) -> None:
    """Longer in-plane side ≤ ``max_aspect`` × the shorter, else ``bad_geometry``."""
    short, long_ = sorted((int(rows), int(cols)))
    if long_ > max_aspect * max(short, 1):
        raise InputError("bad_geometry", f"{what} in-plane {int(rows)}×{int(cols)} is more elongated than "
                                         f"{max_aspect}:1; no CT/MR slice is")


def check_plane(rows: int, cols: int, what: str, max_side: int = MAX_SIDE, max_aspect: int = MAX_ASPECT) -> None:
    """Both limits on one slice's in-plane size (ingest's readers)."""
    check_sides((rows, cols), max_side, what)
    check_aspect(rows, cols, what, max_aspect)
