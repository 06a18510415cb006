"""The demo: packaged-scan demo data (data.py and its parts), the end-to-end run, its report."""
