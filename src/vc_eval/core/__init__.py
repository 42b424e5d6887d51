"""vc_eval.core."""
