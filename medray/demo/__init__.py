"""The demo only: the end-to-end run (run), its stages (stages), the HTTP client it serves through (client),
the serving half (serving) and the report (report). Corpora are medray/datasets', evaluation medray/evaluate's."""
