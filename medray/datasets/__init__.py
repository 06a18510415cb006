"""Corpora built from real scans that installed packages ship: the demo corpus (demo_corpus: MNI152 anatomy with
synthetic deformations, contrasts and lesions; its parts anatomy, contrasts, deform, tumour, noise, dicom_files,
vitals_table) and the real-scan training/evaluation corpus (real_corpus, sources, tissue_labels)."""
