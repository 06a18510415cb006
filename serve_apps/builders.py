"""Serve app builders, importable as ``serve_apps.builders:build_medray_app`` when running from the repository
root (``serve run serve_apps.builders:build_medray_app kafka_bootstrap=...``). The builder itself lives in the
installed package (``medray.serve.builders``) so Ray workers and KubeRay images import it without this folder;
serve_apps/medray.yaml points there."""
from medray.serve.builders import MedrayAppArgs, build_medray_app

__all__ = ["MedrayAppArgs", "build_medray_app"]
