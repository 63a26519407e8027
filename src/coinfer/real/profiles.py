"""Model profiles from transformers architecture configs, and counted with PyTorch's FLOP counter.

:func:`profile_from_config` reads the :class:`~coinfer.system.profiles.Architecture` of a GPT-2,
LLaMA-family or BERT config and hands it to :func:`coinfer.system.profiles.profile_from_architecture`
(the one FLOP formula); :func:`counted_profile` measures the same numbers on a forward pass. The tests
check that the built-in table, the configs and the counter agree to the FLOP.

A profile counts, for one forward pass over ``seq_len`` tokens, the FLOPs of each block's weight
matrix multiplications (prunable), its activation-only matrix products (attention scores and the
attention-weighted sum of values: not prunable) and the output head, and the bits sent at each split.

Counting convention (the one of :mod:`torch.utils.flop_counter`): a matrix product of an ``(m, k)`` by a
``(k, n)`` matrix costs ``2 m k n`` FLOPs; element-wise operations (norms, activations, softmax,
residual additions, biases) are not counted.
"""

from __future__ import annotations

import re

import numpy as np

from ..system.defaults import default
from ..system.profiles import BUILTIN_MODELS, Architecture, ModelProfile, profile_from_architecture
from ..validation import check_int

__all__ = [
    "architecture_of",
    "profile_from_config",
    "builtin_config",
    "small_config",
    "counted_profile",
    "profile_differences",
]


def architecture_of(config) -> Architecture:
    """The :class:`~coinfer.system.profiles.Architecture` of a GPT-2, LLaMA-family or BERT config."""
    mt = getattr(config, "model_type", "")
    if mt == "gpt2":
        d = config.n_embd
        return Architecture(
            family="gpt2",
            n_layers=config.n_layer,
            d_model=d,
            d_q=d,
            d_kv=d,
            d_ff=config.n_inner or 4 * d,
            gated=False,
            vocab=config.vocab_size,
            head="lm",
            tied_head=bool(getattr(config, "tie_word_embeddings", True)),
        )
    if mt in ("llama", "mistral", "qwen2"):
        d = config.hidden_size
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or d // heads
        return Architecture(
            family="llama",
            n_layers=config.num_hidden_layers,
            d_model=d,
            d_q=heads * head_dim,
            d_kv=kv_heads * head_dim,
            d_ff=config.intermediate_size,
            gated=True,
            vocab=config.vocab_size,
            head="lm",
            tied_head=bool(getattr(config, "tie_word_embeddings", False)),
        )
    if mt == "bert":
        d = config.hidden_size
        return Architecture(
            family="bert",
            n_layers=config.num_hidden_layers,
            d_model=d,
            d_q=d,
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
    config,
    seq_len: int,
    *,
    b_tok: int = default("b_tok"),
    b_act: int = default("b_act"),
    name: str = "",
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
    arch = architecture_of(config)
    label = name or getattr(config, "name_or_path", "") or arch.family
    return profile_from_architecture(arch, seq_len, b_tok=b_tok, b_act=b_act, name=label)


def builtin_config(model: str):
    """A transformers config for one of :data:`coinfer.system.BUILTIN_MODELS`, built locally (no download).

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


def small_config(family: str):
    """A small config of ``family`` (``"gpt2"``, ``"llama"`` or ``"bert"``) for fast FLOP-counter checks.

    Two blocks of width 64 and a 512-token vocabulary; the LLaMA one has grouped-query attention
    (4 query heads, 2 key/value heads) and a feed-forward width that is not a multiple of the width,
    so that every term of :func:`profile_from_config` is exercised.
    """
    from transformers import BertConfig, GPT2Config, LlamaConfig

    ids = dict(bos_token_id=0, eos_token_id=0)
    if family == "gpt2":
        return GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=512, n_positions=256, **ids)
    if family == "llama":
        return LlamaConfig(
            num_hidden_layers=2,
            hidden_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=176,
            vocab_size=512,
            max_position_embeddings=256,
            **ids,
        )
    if family == "bert":
        return BertConfig(
            num_hidden_layers=2,
            hidden_size=64,
            num_attention_heads=4,
            intermediate_size=256,
            vocab_size=512,
            max_position_embeddings=256,
            pad_token_id=0,
        )
    raise ValueError(f"family must be one of 'gpt2', 'llama', 'bert'; got {family!r}")


# Block modules: GPT-2 ``...h.l``, LLaMA ``...layers.l``, BERT ``...layer.l``.
_BLOCK = re.compile(r"\.(?:h|layers|layer)\.(\d+)$")
_WEIGHT_OPS = ("mm", "addmm")  # products with a weight matrix; bmm/baddbmm/sdpa act on activations


def counted_profile(
    config,
    seq_len: int,
    *,
    device: str = "meta",
    attention: str = "eager",
    seed: int = 0,
    b_tok: int = default("b_tok"),
    b_act: int = default("b_act"),
    name: str = "",
) -> ModelProfile:
    """The profile of ``config`` measured with PyTorch's FLOP counter on one forward pass.

    Builds the transformers model of ``config`` (GPT-2 and LLaMA as causal language models with their
    head, BERT as ``AutoModel`` with its pooler), runs one pass over ``seq_len`` token ids under
    :class:`torch.utils.flop_counter.FlopCounterMode`, and reads per block: weight FLOPs (``mm`` and
    ``addmm``) and activation FLOPs (every other counted product: ``bmm``, attention kernels).
    Everything counted outside the blocks is the head. Feature sizes come from the shapes of the
    hidden states the model returns; ``n_params`` counts the matrices in the blocks and the head.

    Args:
        config: a transformers config (GPT-2, LLaMA-family or BERT).
        seq_len: number of input tokens ``n``, at least 1.
        device: ``"meta"`` (shapes only: no memory, no arithmetic, any model size) or ``"cpu"``
            (a randomly initialised model really computes; keep it small).
        attention: transformers attention implementation, ``"eager"`` or ``"sdpa"``. With
            ``"sdpa"`` on the CPU, the fused attention kernel has no FLOP formula in the counter,
            so attention FLOPs count as zero (on the meta device they are counted).
        seed: seed of the random initialisation and the random token ids (``device="cpu"``).
        b_tok, b_act: bits per token id and per activation value, as in
            :func:`profile_from_config`.
        name: label stored in the profile.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModel, AutoModelForCausalLM

    n = check_int("seq_len", seq_len, 1)
    check_int("seed", seed, 0)
    check_int("b_tok", b_tok, 1)
    check_int("b_act", b_act, 1)
    if device not in ("meta", "cpu"):
        raise ValueError(f"device must be one of 'meta', 'cpu'; got {device!r}")
    if attention not in ("eager", "sdpa"):
        raise ValueError(f"attention must be one of 'eager', 'sdpa'; got {attention!r}")
    a = architecture_of(config)
    cls = AutoModel if a.family == "bert" else AutoModelForCausalLM
    # The random initialisation draws from torch's global generator: fork it so callers' state is
    # untouched.
    with torch.random.fork_rng(devices=[]), torch.device(device):
        torch.manual_seed(seed)
        model = cls.from_config(config, attn_implementation=attention).eval()
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, config.vocab_size, (1, n), generator=gen).to(device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = model(input_ids=ids, output_hidden_states=True)

    L = a.n_layers
    weight, attn = np.zeros(L), np.zeros(L)
    for module, ops in counter.get_flop_counts().items():
        match = _BLOCK.search(module)
        if match is None:
            continue
        block = int(match.group(1))
        for op, flops in ops.items():
            if str(op).split(".")[-1] in _WEIGHT_OPS:
                weight[block] += flops
            else:
                attn[block] += flops
    head = float(counter.get_total_flops()) - float(weight.sum() + attn.sum())

    hidden = out.hidden_states
    bits = np.array([float(h.numel() * b_act) for h in hidden[: L + 1]])
    bits[0] = float(ids.numel() * b_tok)
    bits[L] = 0.0

    params = 0
    for module_name, module in model.named_modules():
        if _BLOCK.search(module_name):
            params += sum(p.numel() for p in module.parameters() if p.ndim == 2)
    head_module = model.get_output_embeddings() if a.head == "lm" else model.pooler.dense
    if not a.tied_head:  # a tied head is the embedding matrix, which pruning leaves alone
        params += head_module.weight.numel()
    return ModelProfile(
        weight_flops=weight,
        attn_flops=attn,
        head_flops=head,
        feature_bits=bits,
        name=name or f"{a.family} (counted)",
        seq_len=n,
        n_params=int(params),
        head_prunable=not a.tied_head,
    )


def profile_differences(counted: ModelProfile, analytic: ModelProfile) -> dict[str, float]:
    """Largest relative differences ``|counted - analytic| / analytic`` between two profiles.

    Returns a dict with keys ``"weight_flops"``, ``"attn_flops"``, ``"head_flops"``,
    ``"feature_bits"`` and ``"n_params"`` (entries where ``analytic`` is 0 count as 0 if ``counted``
    is 0 too, and as infinite otherwise).
    """
    for label, prof in (("counted", counted), ("analytic", analytic)):
        if not isinstance(prof, ModelProfile):
            raise TypeError(f"{label} must be a ModelProfile; got {type(prof).__name__}")
    if counted.n_blocks != analytic.n_blocks:
        raise ValueError(
            f"counted must have the analytic profile's {analytic.n_blocks} blocks; "
            f"got {counted.n_blocks}"
        )

    def rel(x, y):
        x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(y != 0, np.abs(x - y) / np.abs(y), np.where(x == y, 0.0, np.inf))
        return float(r.max())

    return {
        "weight_flops": rel(counted.weight_flops, analytic.weight_flops),
        "attn_flops": rel(counted.attn_flops, analytic.attn_flops),
        "head_flops": rel(counted.head_flops, analytic.head_flops),
        "feature_bits": rel(counted.feature_bits, analytic.feature_bits),
        "n_params": rel(counted.n_params, analytic.n_params),
    }
