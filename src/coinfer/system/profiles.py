"""Model profiles: per-block FLOPs and bits of one inference, from a plain table of architectures.

A profile counts, for one forward pass over ``seq_len`` tokens, the FLOPs of each block's weight
matrix multiplications (prunable), its activation-only matrix products (attention scores and the
attention-weighted sum of values: not prunable) and the output head, and the bits sent at each split.
The built-in models are a table of architecture numbers (:data:`ARCHITECTURES`): no deep-learning
library is imported to build a profile. :mod:`coinfer.real.profiles` reads the same
:class:`Architecture` from a transformers config and counts FLOPs with PyTorch's counter; the tests
check that table, config and counter agree to the FLOP.

Counting convention (the one of :mod:`torch.utils.flop_counter`): a matrix product of an ``(m, k)`` by
a ``(k, n)`` matrix costs ``2 m k n`` FLOPs; element-wise operations (norms, activations, softmax,
residual additions, biases) are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..validation import check_array, check_int, check_real, check_reals, check_splits
from .defaults import default

__all__ = [
    "ModelProfile",
    "Architecture",
    "ARCHITECTURES",
    "BUILTIN_MODELS",
    "profile_from_architecture",
    "builtin_profile",
]


@dataclass(frozen=True)
class ModelProfile:
    """Per-block compute and feature sizes of one inference of a model on ``seq_len`` tokens.

    Attributes:
        weight_flops: ``(L,)`` weight-matmul FLOPs ``F^w_l`` of each block; scale by ``1 - rho``.
        attn_flops: ``(L,)`` activation-only FLOPs ``F^a_l`` (attention scores and weighted sums).
        head_flops: FLOPs ``F_h`` of the output head (weight FLOPs).
        feature_bits: ``(L + 1,)`` bits ``S(s)`` sent at split ``s = 0..L``; ``S(L) = 0``.
        name: a label, e.g. ``"gpt2-large"``.
        seq_len: number of input tokens ``n`` the profile is for (informational).
        n_params: number of prunable weights (informational; 0 if unknown).
        head_prunable: whether pruning shrinks the head's FLOPs. A language-model head tied to the
            token embedding (GPT-2 family, SmolLM2) is the embedding matrix, which pruning leaves
            alone, so its FLOPs stay whole (``False``); the paper's model prunes it (``True``).
    """

    weight_flops: np.ndarray
    attn_flops: np.ndarray
    head_flops: float
    feature_bits: np.ndarray
    name: str = ""
    seq_len: int = 0
    n_params: int = 0
    head_prunable: bool = True

    def __post_init__(self) -> None:
        wf = check_array("weight_flops", self.weight_flops, ndim=1, lo=0.0, unit="FLOPs")
        L = wf.shape[0]
        af = check_array("attn_flops", self.attn_flops, shape=(L,), lo=0.0, unit="FLOPs")
        hf = check_real("head_flops", self.head_flops, 0.0, unit="FLOPs")
        fb = check_array("feature_bits", self.feature_bits, shape=(L + 1,), lo=0.0, unit="bits")
        if fb[L] != 0.0:
            raise ValueError(
                f"feature_bits[L] (fully on-device, nothing sent) must be 0 bits; got {fb[L]:g}"
            )
        object.__setattr__(self, "weight_flops", wf)
        object.__setattr__(self, "attn_flops", af)
        object.__setattr__(self, "head_flops", hf)
        object.__setattr__(self, "feature_bits", fb)
        check_int("seq_len", self.seq_len, 0)
        check_int("n_params", self.n_params, 0)
        if not isinstance(self.head_prunable, (bool, np.bool_)):
            raise TypeError(f"head_prunable must be True or False; got {self.head_prunable!r}")

    @property
    def n_blocks(self) -> int:
        """Number of blocks ``L``."""
        return int(self.weight_flops.shape[0])

    def device_work(self, split: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(prunable, fixed)`` device FLOPs at split ``s``: ``Wd(rho, s) = (1 - rho) prunable + fixed``.

        ``prunable = sum_{l<=s} F^w_l`` (plus ``F_h`` at ``s = L`` when the head is prunable) and
        ``fixed = sum_{l<=s} F^a_l`` (plus ``F_h`` at ``s = L`` when it is not). Vectorised over
        ``split``; the one place the split of the work is written.
        """
        s = check_splits(split, self.n_blocks)
        zero = np.zeros(1)
        cw = np.concatenate([zero, np.cumsum(self.weight_flops)])
        ca = np.concatenate([zero, np.cumsum(self.attn_flops)])
        head = np.where(s == self.n_blocks, self.head_flops, 0.0)
        if self.head_prunable:
            return cw[s] + head, ca[s]
        return cw[s], ca[s] + head

    def server_work(self, split: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(prunable, fixed)`` server FLOPs at split ``s``: the rest of the model (see
        :meth:`device_work`); ``Ws(rho, s) = (1 - rho) prunable + fixed``."""
        total_p, total_f = self.device_work(self.n_blocks)
        dev_p, dev_f = self.device_work(split)
        return total_p - dev_p, total_f - dev_f

    def device_flops(self, rho: float | np.ndarray, split: int | np.ndarray) -> np.ndarray:
        """Device work ``Wd(rho, s)`` in FLOPs, vectorised (broadcast) over ``rho`` and ``split``."""
        r = check_reals("rho", rho, 0.0, 1.0, False, "")
        prunable, fixed = self.device_work(split)
        return (1.0 - r) * prunable + fixed

    def total_flops(self, rho: float | np.ndarray) -> np.ndarray:
        """Work of the whole model at pruning ratio ``rho``, in FLOPs."""
        return self.device_flops(rho, self.n_blocks)

    def server_flops(self, rho: float | np.ndarray, split: int | np.ndarray) -> np.ndarray:
        """Server work ``Ws(rho, s)`` in FLOPs: blocks ``s+1..L`` and the head (if ``s < L``)."""
        r = check_reals("rho", rho, 0.0, 1.0, False, "")
        prunable, fixed = self.server_work(split)
        return (1.0 - r) * prunable + fixed

    def bits(self, split: int | np.ndarray) -> np.ndarray:
        """Feature size ``S(s)`` in bits, vectorised over ``split``."""
        return self.feature_bits[check_splits(split, self.n_blocks)]


@dataclass(frozen=True)
class Architecture:
    """The numbers of a transformer that its FLOP profile depends on.

    Attributes:
        family: ``"gpt2"``, ``"llama"`` or ``"bert"``.
        n_layers: number of blocks ``L``.
        d_model: width ``d`` (the size of the hidden state sent at an interior split).
        d_q: total query width (heads times head size).
        d_kv: total key/value width (smaller than ``d_q`` with grouped-query attention).
        d_ff: feed-forward width.
        gated: whether the MLP is gated (three matrices, LLaMA) or not (two).
        vocab: vocabulary size.
        head: ``"lm"`` (language-model head at every position) or ``"pooler"`` (BERT's pooler, one
            token).
        tied_head: whether the language-model head is the token-embedding matrix (GPT-2, SmolLM2).
    """

    family: str
    n_layers: int
    d_model: int
    d_q: int
    d_kv: int
    d_ff: int
    gated: bool
    vocab: int
    head: str
    tied_head: bool = False

    @property
    def block_params(self) -> int:
        """Weights of the matrices of one block."""
        d = self.d_model
        mlp = 3 if self.gated else 2
        return d * self.d_q + 2 * d * self.d_kv + self.d_q * d + mlp * d * self.d_ff

    @property
    def head_params(self) -> int:
        """Weights of the output head (the tied embedding counts once, here)."""
        return self.d_model * self.vocab if self.head == "lm" else self.d_model**2


#: The built-in models, by name, in order of size per family. GPT-2 sizes are those of Radford et
#: al. (2019); ``llama-2-7b`` has LLaMA-2-7B's shape; ``smollm2-135m`` and ``minilm-l6`` match the
#: configs of the offline real models (SmolLM2-135M, all-MiniLM-L6-v2).
ARCHITECTURES: dict[str, Architecture] = {
    "minilm-l6": Architecture("bert", 6, 384, 384, 384, 1536, False, 30522, "pooler"),
    "smollm2-135m": Architecture("llama", 30, 576, 576, 192, 1536, True, 49152, "lm", True),
    "gpt2": Architecture("gpt2", 12, 768, 768, 768, 3072, False, 50257, "lm", True),
    "gpt2-medium": Architecture("gpt2", 24, 1024, 1024, 1024, 4096, False, 50257, "lm", True),
    "gpt2-large": Architecture("gpt2", 36, 1280, 1280, 1280, 5120, False, 50257, "lm", True),
    "gpt2-xl": Architecture("gpt2", 48, 1600, 1600, 1600, 6400, False, 50257, "lm", True),
    "llama-2-7b": Architecture("llama", 32, 4096, 4096, 4096, 11008, True, 32000, "lm"),
}

#: Names accepted by :func:`builtin_profile`, in order of size per family.
BUILTIN_MODELS = tuple(ARCHITECTURES)


def profile_from_architecture(
    arch: Architecture,
    seq_len: int,
    *,
    b_tok: int = default("b_tok"),
    b_act: int = default("b_act"),
    name: str = "",
) -> ModelProfile:
    """The :class:`ModelProfile` of ``arch`` for one pass over ``seq_len`` tokens.

    Per block (``n = seq_len`` tokens):

    * weight FLOPs ``2 n (d d_q + 2 d d_kv + d_q d + k d d_ff)`` with ``k = 2`` (GPT-2, BERT) or ``3``
      (gated LLaMA MLP);
    * attention FLOPs ``4 n^2 d_q`` (scores ``Q K^T`` and the weighted sum ``A V``, full square as
      computed by the dense kernel, causal masking included);
    * head: the language-model head ``2 n d V`` (logits at every position), or BERT's pooler
      ``2 d^2`` (one token); a head tied to the embedding is not prunable (``head_prunable``).

    Feature sizes: ``S(0) = n b_tok`` (token ids), ``S(s) = n d b_act`` for ``0 < s < L``, ``S(L) = 0``.

    Args:
        arch: the architecture numbers.
        seq_len: number of input tokens ``n``, at least 1.
        b_tok: bits per token id.
        b_act: bits per activation value sent over the uplink.
        name: label stored in the profile.
    """
    if not isinstance(arch, Architecture):
        raise TypeError(f"arch must be an Architecture; got {type(arch).__name__}")
    n = check_int("seq_len", seq_len, 1)
    check_int("b_tok", b_tok, 1)
    check_int("b_act", b_act, 1)
    L, d = arch.n_layers, arch.d_model
    weight = np.full(L, 2.0 * n * arch.block_params)
    attn = np.full(L, 4.0 * n * n * arch.d_q)
    head = 2.0 * n * d * arch.vocab if arch.head == "lm" else 2.0 * d * d
    bits = np.full(L + 1, float(n * d * b_act))
    bits[0] = float(n * b_tok)
    bits[L] = 0.0
    return ModelProfile(
        weight_flops=weight,
        attn_flops=attn,
        head_flops=head,
        feature_bits=bits,
        name=name or arch.family,
        seq_len=n,
        n_params=int(L * arch.block_params + (0 if arch.tied_head else arch.head_params)),
        head_prunable=not arch.tied_head,
    )


@lru_cache(maxsize=64)
def builtin_profile(
    model: str = default("model"), seq_len: int = default("seq_len")
) -> ModelProfile:
    """The profile of a built-in model (a key of :data:`ARCHITECTURES`) for ``seq_len`` tokens."""
    if model not in ARCHITECTURES:
        raise ValueError(f"model must be one of {', '.join(BUILTIN_MODELS)}; got {model!r}")
    return profile_from_architecture(ARCHITECTURES[model], seq_len, name=model)
