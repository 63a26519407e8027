"""Structured pruning of the real models: whole attention heads and MLP channels, physically removed.

Unstructured magnitude pruning (:mod:`coinfer.real.pruning`) zeroes single weights; the matrices keep
their shapes and a dense kernel does the same work. Structured pruning removes whole rows and columns,
so the pruned model is a smaller *dense* model and its work falls with the parameters removed.

What is removed, in every block alike (the same counts in each block, so each block's work falls by
the same fraction and no block is emptied):

* **attention heads.** BERT (all-MiniLM-L6-v2): a head owns its rows of the query, key and value
  projections (and their biases) and its columns of the output projection. LLaMA with grouped-query
  attention (SmolLM2-135M: 9 query heads sharing 3 key/value heads): we prune *query heads within
  their key/value groups*, the same number in every group, and keep every key/value head. Each query
  head owns its rows of ``q_proj`` and its columns of ``o_proj``. Removing whole key/value groups
  instead would leave three steps per block (a third of the attention at a time) and remove the
  shared keys and values of up to three query heads at once; pruning query heads keeps the grouped
  layout intact (``num_key_value_groups`` becomes the kept heads per group) at a finer step.
* **MLP channels.** A channel owns its row of the up projection (BERT ``intermediate.dense`` with its
  bias; LLaMA ``gate_proj`` and ``up_proj``) and its column of the down projection
  (``output.dense`` / ``down_proj``).

Importance score: the l2 norm of all the weights a unit owns (a data-free magnitude score), ranked
*within each block* (heads within each key/value group) and the lowest-scored units removed.

The pruning ratio ``rho`` is the fraction of the block matrices' parameters removed (the same
denominator as unstructured pruning's prunable weights inside the blocks, so the two kinds compare at
equal ``rho``). For a target ``rho`` each block removes ``m = round(rho H)`` heads per group (at most
``H - 1`` of the ``H`` per group) and then as many MLP channels as bring the removed parameters
nearest to ``rho``, keeping a multiple of :data:`CHANNEL_STEP` channels (at least one step); the ratio reached is reported (:attr:`StructuredResult.achieved_ratio`).
Embeddings, norms, the head and the pooler are left alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..validation import check_int, check_real

#: MLP channels are kept in multiples of this many (when the width allows): matrices with odd sizes
#: run slower per FLOP on CPU kernels, and the work would not fall smoothly with ``rho``.
CHANNEL_STEP = 32

__all__ = [
    "CHANNEL_STEP",
    "Structure",
    "StructuredResult",
    "structure_of",
    "plan",
    "prune_structured",
    "analytic_flops",
]


@dataclass(frozen=True)
class Structure:
    """The per-block sizes that structured pruning works with.

    Attributes:
        family: ``"bert"`` or ``"llama"``.
        n_blocks: ``L``.
        d_model: width ``d``.
        head_dim: size of one attention head.
        groups: key/value groups (1 for BERT, whose heads all count as one group).
        heads_per_group: query heads per group ``H``.
        d_ff: MLP channels.
        vocab: vocabulary size (for the head's FLOPs).
    """

    family: str
    n_blocks: int
    d_model: int
    head_dim: int
    groups: int
    heads_per_group: int
    d_ff: int
    vocab: int

    @property
    def head_params(self) -> int:
        """Weights owned by one query head (BERT: q, k, v rows and o columns; LLaMA: q rows, o cols)."""
        per = 4 if self.family == "bert" else 2
        return per * self.d_model * self.head_dim

    @property
    def channel_params(self) -> int:
        """Weights owned by one MLP channel (2 d, or 3 d for the gated LLaMA MLP)."""
        return (2 if self.family == "bert" else 3) * self.d_model

    @property
    def fixed_params(self) -> int:
        """Block weights that this pruning never removes (LLaMA's shared key/value projections)."""
        if self.family == "bert":
            return 0
        return 2 * self.d_model * self.groups * self.head_dim

    @property
    def block_params(self) -> int:
        """All weights of the matrices of one block."""
        heads = self.groups * self.heads_per_group
        return heads * self.head_params + self.d_ff * self.channel_params + self.fixed_params


def structure_of(model) -> Structure:
    """The :class:`Structure` of a ``BertModel`` or ``LlamaForCausalLM``."""
    name = type(model).__name__
    if name not in ("BertModel", "LlamaForCausalLM"):
        raise TypeError(f"model must be a BertModel or a LlamaForCausalLM; got {name}")
    c = model.config
    if name == "BertModel":
        heads = c.num_attention_heads
        return Structure(
            "bert",
            c.num_hidden_layers,
            c.hidden_size,
            c.hidden_size // heads,
            1,
            heads,
            c.intermediate_size,
            c.vocab_size,
        )
    if name == "LlamaForCausalLM":
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        groups = c.num_key_value_heads
        return Structure(
            "llama",
            c.num_hidden_layers,
            c.hidden_size,
            head_dim,
            groups,
            c.num_attention_heads // groups,
            c.intermediate_size,
            c.vocab_size,
        )
    raise TypeError(f"model must be a BertModel or a LlamaForCausalLM; got {name}")


def plan(structure: Structure, ratio: float) -> tuple[int, int]:
    """``(heads removed per group, MLP channels removed)`` per block for the target ``ratio``.

    See the module docstring: heads first (``round(ratio H)``, at most ``H - 1``), then the number of
    channels that brings the removed fraction of the block's parameters nearest to ``ratio``.
    """
    r = check_real("ratio", ratio, 0.0, 1.0, hi_open=True)
    st = structure
    m = min(int(round(r * st.heads_per_group)), st.heads_per_group - 1)
    left = r * st.block_params - m * st.groups * st.head_params
    kept = st.d_ff - left / st.channel_params
    step = CHANNEL_STEP if st.d_ff % CHANNEL_STEP == 0 else 1
    kept = int(np.clip(round(kept / step) * step, step, st.d_ff))
    return m, st.d_ff - kept


@dataclass(frozen=True)
class StructuredResult:
    """A structurally pruned copy of a model.

    Attributes:
        model: the sliced model (a new model; the original is untouched).
        ratio: the requested ``rho``.
        achieved_ratio: the fraction of the block matrices' parameters removed.
        heads_kept: query heads kept per group in every block.
        channels_kept: MLP channels kept in every block.
        n_removed, n_block_params: removed and total parameters of the block matrices.
    """

    model: torch.nn.Module
    ratio: float
    achieved_ratio: float
    heads_kept: int
    channels_kept: int
    n_removed: int
    n_block_params: int


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.nn.Linear:
    lin = torch.nn.Linear(
        weight.shape[1],
        weight.shape[0],
        bias=bias is not None,
        dtype=weight.dtype,
        device=weight.device,
    )
    with torch.no_grad():
        lin.weight.copy_(weight)
        if bias is not None:
            lin.bias.copy_(bias)
    return lin


def _rows(lin: torch.nn.Linear, idx: torch.Tensor) -> torch.nn.Linear:
    return _linear(lin.weight[idx], None if lin.bias is None else lin.bias[idx])


def _cols(lin: torch.nn.Linear, idx: torch.Tensor) -> torch.nn.Linear:
    return _linear(lin.weight[:, idx], lin.bias)


def _keep_lowest_removed(score: torch.Tensor, n_remove: int) -> torch.Tensor:
    """Sorted indices of the units kept: all but the ``n_remove`` lowest scores (ties by index)."""
    order = torch.argsort(score, stable=True)
    return torch.sort(order[n_remove:]).values


def _head_index(keep_heads: torch.Tensor, head_dim: int) -> torch.Tensor:
    return (keep_heads[:, None] * head_dim + torch.arange(head_dim)[None, :]).reshape(-1)


def _prune_block(block, st: Structure, m: int, c: int) -> None:
    hd = st.head_dim
    with torch.no_grad():
        if st.family == "bert":
            att, out = block.attention.self, block.attention.output
            owned = [att.query.weight, att.key.weight, att.value.weight]
            score = sum(w.reshape(-1, hd, st.d_model).pow(2).sum((1, 2)) for w in owned)
            score = score + out.dense.weight.reshape(st.d_model, -1, hd).pow(2).sum((0, 2))
            keep = _keep_lowest_removed(score.sqrt(), m)
            idx = _head_index(keep, hd)
            att.query, att.key, att.value = (_rows(x, idx) for x in (att.query, att.key, att.value))
            out.dense = _cols(out.dense, idx)
            att.num_attention_heads = len(keep)
            att.all_head_size = len(keep) * hd
            up, down = block.intermediate.dense, block.output.dense
            score = up.weight.pow(2).sum(1) + down.weight.pow(2).sum(0)
            keep_c = _keep_lowest_removed(score.sqrt(), c)
            block.intermediate.dense, block.output.dense = _rows(up, keep_c), _cols(down, keep_c)
        else:
            att, mlp = block.self_attn, block.mlp
            H = st.heads_per_group
            q = att.q_proj.weight.reshape(st.groups, H, hd, st.d_model).pow(2).sum((2, 3))
            o = att.o_proj.weight.reshape(st.d_model, st.groups, H, hd).pow(2).sum((0, 3))
            score = (q + o).sqrt()
            keep = torch.cat([g * H + _keep_lowest_removed(score[g], m) for g in range(st.groups)])
            idx = _head_index(keep, hd)
            att.q_proj, att.o_proj = _rows(att.q_proj, idx), _cols(att.o_proj, idx)
            att.num_key_value_groups = H - m
            score = (
                mlp.gate_proj.weight.pow(2).sum(1)
                + mlp.up_proj.weight.pow(2).sum(1)
                + mlp.down_proj.weight.pow(2).sum(0)
            ).sqrt()
            keep_c = _keep_lowest_removed(score, c)
            mlp.gate_proj, mlp.up_proj = _rows(mlp.gate_proj, keep_c), _rows(mlp.up_proj, keep_c)
            mlp.down_proj = _cols(mlp.down_proj, keep_c)


def prune_structured(model, ratio: float) -> StructuredResult:
    """Remove heads and MLP channels from a copy of ``model`` at ratio ``ratio`` in ``[0, 1)``.

    The rules are in the module docstring. At ``ratio = 0`` nothing is removed and the copy computes
    exactly what ``model`` computes.
    """
    st = structure_of(model)
    m, c = plan(st, ratio)
    pruned = copy.deepcopy(model)
    blocks = pruned.model.layers if st.family == "llama" else pruned.encoder.layer
    for block in blocks:
        _prune_block(block, st, m, c)
    removed = m * st.groups * st.head_params + c * st.channel_params
    return StructuredResult(
        model=pruned,
        ratio=float(ratio),
        achieved_ratio=removed / st.block_params,
        heads_kept=st.heads_per_group - m,
        channels_kept=st.d_ff - c,
        n_removed=int(removed * st.n_blocks),
        n_block_params=int(st.block_params * st.n_blocks),
    )


def analytic_flops(
    structure: Structure,
    heads_kept: int,
    channels_kept: int,
    seq_len: int,
    *,
    attention: bool = True,
) -> dict[str, float]:
    """FLOPs of one forward pass over ``seq_len`` tokens of a structurally pruned model.

    Per block: weight FLOPs ``2 n (kept block matrix weights)``; attention FLOPs ``4 n^2 d_q'``
    (scores and weighted sums over the kept query width ``d_q'``) when ``attention``. The head: BERT's
    pooler ``2 d^2`` (one token, as ``BertModel`` computes it), LLaMA's language-model head
    ``2 n d V``. Returns ``{"block_weight", "block_attention", "head", "total"}`` (``block_*`` per
    block, ``total`` for the whole pass).
    """
    n = check_int("seq_len", seq_len, 1)
    st = structure
    check_int("heads_kept", heads_kept, 1, st.heads_per_group)
    check_int("channels_kept", channels_kept, 1, st.d_ff)
    kept = (
        st.groups * heads_kept * st.head_params
        + channels_kept * st.channel_params
        + st.fixed_params
    )
    weight = 2.0 * n * kept
    attn = 4.0 * n * n * st.groups * heads_kept * st.head_dim if attention else 0.0
    head = 2.0 * st.d_model**2 if st.family == "bert" else 2.0 * n * st.d_model * st.vocab
    return {
        "block_weight": weight,
        "block_attention": attn,
        "head": head,
        "total": st.n_blocks * (weight + attn) + head,
    }
