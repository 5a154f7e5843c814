"""Keeps the transformers tests offline: imported before transformers and huggingface_hub by the test modules
that build tiny models (harness/scorers/tiny_models.py), so nothing may reach the network."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
