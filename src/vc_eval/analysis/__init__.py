"""vc_eval.analysis."""
