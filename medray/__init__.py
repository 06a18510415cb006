"""medray: medical image super-resolution and synthesis on Ray, conditioned on IoT vitals."""

__version__ = "0.1.0"
