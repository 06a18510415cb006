"""medray: medical image super-resolution and synthesis on Ray, conditioned on IoT vitals."""

__version__ = "0.1.0"

__all__ = ["enhance", "synthesize", "__version__"]


def __getattr__(name: str):
    # lazy: `import medray` stays light (no torch, no Ray) until the API is used
    if name in ("enhance", "synthesize"):
        from medray import api

        return getattr(api, name)
    raise AttributeError(f"module 'medray' has no attribute {name!r}")
