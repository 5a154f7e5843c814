"""Hydra launchers of glide-eval (Hydra finds launcher classes only in the hydra_plugins namespace package)."""
