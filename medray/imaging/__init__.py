"""Reading scans and preparing them for a model, shared by ingest and serving: readers (nifti, dicom, nrrd,
invesalius; dicom_bounds, timeout guard them), orientation (orient), the one invertible intensity normalisation
(normalise), the LR degradation (degrade) and the write-back of model output in the scan's own units (writeback)."""
