"""vc_eval.reporting."""
