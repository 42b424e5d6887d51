"""vc_eval.ingest."""
