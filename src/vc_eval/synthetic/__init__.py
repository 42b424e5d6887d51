"""vc_eval.synthetic."""
