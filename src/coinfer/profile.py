"""Model profiles from transformers architecture configs, with no weights loaded.

A profile counts, for one forward pass over ``seq_len`` tokens, the FLOPs of each block's weight
matrix multiplications (prunable), its activation-only matrix products (attention scores and the
attention-weighted sum of values: not prunable) and the output head, and the bits sent at each split.

Counting convention (the one of :mod:`torch.utils.flop_counter`): a matrix product of an ``(m, k)`` by a
``(k, n)`` matrix costs ``2 m k n`` FLOPs; element-wise operations (norms, activations, softmax,
residual additions, biases) are not counted.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .system import ModelProfile
from .validation import check_int

__all__ = ["profile_from_config", "builtin_config", "builtin_profile", "BUILTIN_MODELS"]

#: Names accepted by :func:`builtin_config` and :func:`builtin_profile`, in order of size per family.
BUILTIN_MODELS = (
    "minilm-l6",
    "smollm2-135m",
    "gpt2",
    "gpt2-medium",
    "gpt2-large",
    "gpt2-xl",
    "llama-2-7b",
)


def _arch(config) -> dict:
    """Read the architecture numbers of a GPT-2, LLaMA-family or BERT config."""
    mt = getattr(config, "model_type", "")
    if mt == "gpt2":
        d = config.n_embd
        return dict(
            family="gpt2",
            L=config.n_layer,
            d=d,
            d_kv=d,
            d_ff=config.n_inner or 4 * d,
            gated=False,
            vocab=config.vocab_size,
            head="lm",
        )
    if mt in ("llama", "mistral", "qwen2"):
        d = config.hidden_size
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or d // heads
        return dict(
            family="llama",
            L=config.num_hidden_layers,
            d=d,
            d_q=heads * head_dim,
            d_kv=kv_heads * head_dim,
            d_ff=config.intermediate_size,
            gated=True,
            vocab=config.vocab_size,
            head="lm",
        )
    if mt == "bert":
        d = config.hidden_size
        return dict(
            family="bert",
            L=config.num_hidden_layers,
            d=d,
            d_kv=d,
            d_ff=config.intermediate_size,
            gated=False,
            vocab=config.vocab_size,
            head="pooler",
        )
    raise ValueError(
        f"config.model_type must be one of 'gpt2', 'llama', 'mistral', 'qwen2', 'bert'; got {mt!r}"
    )


def profile_from_config(
    config, seq_len: int, *, b_tok: int = 32, b_act: int = 16, name: str = ""
) -> ModelProfile:
    """The :class:`~coinfer.system.ModelProfile` of ``config`` for one pass over ``seq_len`` tokens.

    Per block (``n = seq_len`` tokens, width ``d``, key/value width ``d_kv``, feed-forward width
    ``d_ff``):

    * weight FLOPs ``2 n (d d_q + 2 d d_kv + d_q d + k d d_ff)`` with ``k = 2`` (GPT-2, BERT) or ``3``
      (gated LLaMA MLP), where ``d_q = d`` except for LLaMA configs with an explicit head size;
    * attention FLOPs ``4 n^2 d_q`` (scores ``Q K^T`` and the weighted sum ``A V``, full square as
      computed by the dense kernel, causal masking included);
    * head: the language-model head ``2 n d V`` (logits at every position), or BERT's pooler
      ``2 d^2`` (one token).

    Feature sizes: ``S(0) = n b_tok`` (token ids), ``S(s) = n d b_act`` for ``0 < s < L``, ``S(L) = 0``.

    Args:
        config: a transformers ``PretrainedConfig`` (GPT-2, LLaMA-family or BERT).
        seq_len: number of input tokens ``n``, at least 1.
        b_tok: bits per token id.
        b_act: bits per activation value sent over the uplink.
        name: label stored in the profile.
    """
    n = check_int("seq_len", seq_len, 1)
    check_int("b_tok", b_tok, 1)
    check_int("b_act", b_act, 1)
    a = _arch(config)
    L, d, d_kv, d_ff = a["L"], a["d"], a["d_kv"], a["d_ff"]
    d_q = a.get("d_q", d)
    mlp_mats = 3 if a["gated"] else 2
    block_params = d * d_q + 2 * d * d_kv + d_q * d + mlp_mats * d * d_ff
    weight = np.full(L, 2.0 * n * block_params)
    attn = np.full(L, 4.0 * n * n * d_q)
    if a["head"] == "lm":
        head = 2.0 * n * d * a["vocab"]
        head_params = d * a["vocab"]
    else:
        head = 2.0 * d * d
        head_params = d * d
    bits = np.full(L + 1, float(n * d * b_act))
    bits[0] = float(n * b_tok)
    bits[L] = 0.0
    return ModelProfile(
        weight_flops=weight,
        attn_flops=attn,
        head_flops=head,
        feature_bits=bits,
        name=name or getattr(config, "name_or_path", "") or a["family"],
        seq_len=n,
        n_params=int(L * block_params + head_params),
    )


def builtin_config(model: str):
    """A transformers config for one of :data:`BUILTIN_MODELS`, built locally (no download).

    The GPT-2 sizes are those of Radford et al. (2019); ``llama-2-7b`` has LLaMA-2-7B's shape
    (32 layers, width 4096, feed-forward 11008, vocabulary 32000); ``smollm2-135m`` and ``minilm-l6``
    match the configs of the offline real models (SmolLM2-135M, all-MiniLM-L6-v2).
    """
    from transformers import BertConfig, GPT2Config, LlamaConfig

    gpt2 = {
        "gpt2": (12, 768, 12),
        "gpt2-medium": (24, 1024, 16),
        "gpt2-large": (36, 1280, 20),
        "gpt2-xl": (48, 1600, 25),
    }
    if model in gpt2:
        layers, width, heads = gpt2[model]
        return GPT2Config(n_layer=layers, n_embd=width, n_head=heads, name_or_path=model)
    if model == "llama-2-7b":
        return LlamaConfig(
            num_hidden_layers=32,
            hidden_size=4096,
            num_attention_heads=32,
            num_key_value_heads=32,
            intermediate_size=11008,
            vocab_size=32000,
            max_position_embeddings=4096,
            name_or_path=model,
        )
    if model == "smollm2-135m":
        return LlamaConfig(
            num_hidden_layers=30,
            hidden_size=576,
            num_attention_heads=9,
            num_key_value_heads=3,
            intermediate_size=1536,
            vocab_size=49152,
            max_position_embeddings=8192,
            tie_word_embeddings=True,
            name_or_path=model,
        )
    if model == "minilm-l6":
        return BertConfig(
            num_hidden_layers=6,
            hidden_size=384,
            num_attention_heads=12,
            intermediate_size=1536,
            vocab_size=30522,
            name_or_path=model,
        )
    raise ValueError(f"model must be one of {', '.join(BUILTIN_MODELS)}; got {model!r}")


@lru_cache(maxsize=64)
def builtin_profile(model: str = "gpt2-large", seq_len: int = 128) -> ModelProfile:
    """The profile of a built-in model (see :func:`builtin_config`) for ``seq_len`` tokens."""
    return profile_from_config(builtin_config(model), seq_len, name=model)
