"""Ray Serve HTTP service: codecs (PNG/NIfTI/DICOM in and out), deployments, ingress, launcher."""
