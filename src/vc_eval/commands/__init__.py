"""Command-line commands, one module per capability (registered in vc_eval.cli)."""
