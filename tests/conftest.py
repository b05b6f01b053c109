from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Llama-family causal LM with a byte-level BPE tokenizer, built offline once per session."""
    from training.engine.tiny import TinyModelConfig, build_tiny_model

    out = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(TinyModelConfig(), out_dir=out)
    return out
