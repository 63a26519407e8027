"""Does compute fall as ``(1 - rho)``? Dense versus sparse (CSR) matrix products on this CPU.

The system model (book chapter "The co-inference system") charges a block ``(1 - rho) F^w_l`` weight FLOPs, which assumes
that a kernel skips the zeros of an unstructured pruned weight at no cost. This module measures that
assumption: for each weight shape of a real model it times, on one thread,

* the dense product ``x W^T`` (``torch.nn.functional.linear``; zeros are multiplied like any weight),
* the sparse product ``W_csr x^T`` with ``W`` stored in compressed sparse row format
  (``Tensor.to_sparse_csr``), whose work is proportional to the number of kept weights,

for a batch of ``n`` tokens and pruning ratios ``rho``, with the zeros placed uniformly at random (what
global magnitude pruning of i.i.d. weights gives). Times are medians of repeats of wall-clock time and
vary from run to run and machine to machine; only their ratios are meant to be read.

From them: the break-even ratio ``rho*`` above which the sparse kernel beats the dense one, and the
*effective work fraction* ``c(rho) = min(t_dense, t_sparse(rho)) / t_dense`` that a device which picks
the faster kernel actually achieves, to set against the model's ``1 - rho``.
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..validation import check_array, check_int

__all__ = [
    "weight_shapes",
    "KernelTiming",
    "time_kernels",
    "time_model_kernels",
    "break_even_rho",
    "effective_work_fraction",
    "effective_rho",
]


def weight_shapes(model: str) -> dict[str, tuple[tuple[int, int], int]]:
    """The distinct prunable weight shapes of a built-in model, per forward pass, with multiplicities.

    Returns ``{name: ((d_out, d_in), count)}`` for the matrices of all ``L`` blocks (``count`` is the
    number of such matrices in the model). Built from the architecture config
    (:func:`coinfer.real.profiles.builtin_config`), no weights loaded. Supports ``"smollm2-135m"``,
    ``"minilm-l6"``, ``"llama-2-7b"`` and the GPT-2 sizes. Heads are left out: SmolLM2's head is tied to
    the embedding and not pruned, and MiniLM's sentence embedding has none.
    """
    from .profiles import builtin_config

    cfg = builtin_config(model)
    if cfg.model_type == "llama":
        d, L, d_ff = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
        head_dim = getattr(cfg, "head_dim", None) or d // cfg.num_attention_heads
        d_q, d_kv = cfg.num_attention_heads * head_dim, cfg.num_key_value_heads * head_dim
        shapes = {
            "q_proj": ((d_q, d), L),
            "k_proj, v_proj": ((d_kv, d), 2 * L),
            "o_proj": ((d, d_q), L),
            "gate_proj, up_proj": ((d_ff, d), 2 * L),
            "down_proj": ((d, d_ff), L),
        }
    elif cfg.model_type == "gpt2":
        d, L = cfg.n_embd, cfg.n_layer
        d_ff = cfg.n_inner or 4 * d
        shapes = {
            "c_attn": ((3 * d, d), L),  # fused query, key, value
            "attn.c_proj": ((d, d), L),
            "c_fc": ((d_ff, d), L),
            "mlp.c_proj": ((d, d_ff), L),
        }
    else:
        d, L, d_ff = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
        shapes = {
            "query, key, value, output": ((d, d), 4 * L),
            "intermediate": ((d_ff, d), L),
            "output (MLP)": ((d, d_ff), L),
        }
    # Merge equal shapes so that each is timed once.
    merged: dict[tuple[int, int], list] = {}
    for name, (shape, count) in shapes.items():
        entry = merged.setdefault(shape, [[], 0])
        entry[0].append(name)
        entry[1] += count
    return {", ".join(names): (shape, count) for shape, (names, count) in merged.items()}


@contextmanager
def _threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


@dataclass(frozen=True)
class KernelTiming:
    """Median wall-clock times of one weight product, dense and sparse, across pruning ratios.

    Attributes:
        shape: ``(d_out, d_in)`` of the weight.
        n_tokens: number of tokens ``n`` in the batch (columns of ``x^T``).
        rho: ``(K,)`` pruning ratios.
        dense: ``(K,)`` times of the dense product of the pruned weight in s (the zeros are multiplied
            like any weight, so these barely depend on ``rho``).
        sparse: ``(K,)`` times of the CSR product in s.
        count: how many matrices of this shape one forward pass multiplies (for model totals).
    """

    shape: tuple[int, int]
    n_tokens: int
    rho: np.ndarray
    dense: np.ndarray
    sparse: np.ndarray
    count: int = 1

    @property
    def speedup(self) -> np.ndarray:
        """``t_dense / t_sparse(rho)``: above 1 the sparse kernel pays."""
        return self.dense / self.sparse


def time_kernels(
    shape: tuple[int, int],
    n_tokens: int,
    rho,
    repeats: int = 7,
    seed: int = 0,
    threads: int = 1,
    count: int = 1,
) -> KernelTiming:
    """Time ``x W^T`` dense and ``W_csr x^T`` sparse for a ``shape = (d_out, d_in)`` weight.

    Weights are standard normal with a uniformly random set of exactly ``round(rho d_out d_in)``
    entries zeroed (from ``seed``); ``x`` is ``(n_tokens, d_in)`` standard normal. Each time is the
    median of ``repeats`` runs after one warm-up, on ``threads`` threads (restored afterwards).
    The two products are checked to agree before timing.
    """
    d_out = check_int("shape[0]", shape[0], 1)
    d_in = check_int("shape[1]", shape[1], 1)
    n = check_int("n_tokens", n_tokens, 1)
    rhos = check_array("rho", rho, ndim=1, lo=0.0, hi=1.0, hi_open=True)
    if np.any(np.diff(rhos) <= 0):
        raise ValueError(f"rho must be strictly increasing; got {rhos.tolist()}")
    repeats = check_int("repeats", repeats, 1)
    threads = check_int("threads", threads, 1)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    w = torch.randn(d_out, d_in, generator=g)
    x = torch.randn(n, d_in, generator=g)
    order = torch.randperm(d_out * d_in, generator=g)  # nested supports: larger rho zeroes more
    dense, sparse = [], []
    xt = x.T.contiguous()
    with _threads(threads), torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        for r in rhos:
            wp = w.clone().reshape(-1)
            wp[order[: int(round(r * d_out * d_in))]] = 0.0
            wp = wp.reshape(d_out, d_in)
            csr = wp.to_sparse_csr()
            want = torch.nn.functional.linear(x, wp)
            if not torch.allclose((csr @ xt).T, want, rtol=1e-4, atol=1e-3):
                raise RuntimeError("the CSR product disagrees with the dense product")
            dense.append(_median_time(lambda wp=wp: torch.nn.functional.linear(x, wp), repeats))
            sparse.append(_median_time(lambda csr=csr: csr @ xt, repeats))
    return KernelTiming(
        (d_out, d_in), n, rhos, np.asarray(dense), np.asarray(sparse), check_int("count", count, 1)
    )


def time_model_kernels(
    model: str, n_tokens: int, rho, repeats: int = 5, seed: int = 0, threads: int = 1
) -> dict[str, KernelTiming]:
    """:func:`time_kernels` for every distinct weight shape of a built-in model (:func:`weight_shapes`)."""
    return {
        name: time_kernels(shape, n_tokens, rho, repeats, seed, threads, count)
        for name, (shape, count) in weight_shapes(model).items()
    }


def _total(timings) -> tuple[np.ndarray, float, np.ndarray]:
    if isinstance(timings, KernelTiming):
        timings = {"": timings}
    items = list(timings.values())
    rho = items[0].rho
    for t in items:
        if not np.array_equal(t.rho, rho):
            raise ValueError("all timings must share the same rho grid")
    dense = sum(t.count * t.dense for t in items)
    sparse = sum(t.count * t.sparse for t in items)
    return rho, np.asarray(dense), np.asarray(sparse)


def break_even_rho(timings) -> float:
    """Pruning ratio from which on the sparse kernel is faster than the dense one.

    ``timings`` is one :class:`KernelTiming` or a dict of them (then the model total, each shape
    weighted by its count, is used). The ratio is the start of the last run of grid points where sparse
    wins (so a noisy isolated win at a low ratio does not count), interpolated linearly with the grid
    point before it; ``nan`` when sparse does not win at the largest ratio, the first grid point when
    it wins everywhere.
    """
    rho, dense, sparse = _total(timings)
    gap = sparse - dense  # negative: sparse wins
    if gap[-1] >= 0:
        return float("nan")
    losing = np.flatnonzero(gap >= 0)
    i = int(losing[-1]) + 1 if losing.size else 0
    if i == 0:
        return float(rho[0])
    r0, r1, g0, g1 = rho[i - 1], rho[i], gap[i - 1], gap[i]
    return float(r0 + (r1 - r0) * g0 / (g0 - g1))


def effective_work_fraction(timings) -> tuple[np.ndarray, np.ndarray]:
    """``(rho, c(rho))``: time of the faster kernel over the dense time, to compare with ``1 - rho``.

    A device that runs whichever kernel is faster spends ``c(rho) t_dense`` on the weight products;
    the system model assumes ``c(rho) = 1 - rho``. ``timings`` as in :func:`break_even_rho`.
    """
    rho, dense, sparse = _total(timings)
    return rho, np.minimum(sparse, dense) / dense


def effective_rho(rho, timings):
    """The pruning ratio the system model should use so that ``1 - rho_eff = c(rho)``.

    The system model scales weight FLOPs by ``1 - rho``; a device that runs the faster kernel takes
    ``c(rho)`` of the dense time (:func:`effective_work_fraction`), so feeding ``rho_eff = 1 - c(rho)``
    to :func:`coinfer.system.evaluate` gives the latency and energy this CPU would actually see.
    ``c`` is interpolated linearly on the measured grid (``c(0) = 1`` is added if missing) and held
    constant beyond its last point. Vectorised over ``rho`` in ``[0, 1)``.
    """
    r = check_array(
        "rho", np.atleast_1d(np.asarray(rho, dtype=float)), lo=0.0, hi=1.0, hi_open=True
    )
    grid, c = effective_work_fraction(timings)
    if grid[0] > 0.0:
        grid, c = np.concatenate([[0.0], grid]), np.concatenate([[1.0], c])
    out = 1.0 - np.interp(r, grid, c)
    return out.reshape(np.shape(rho)) if np.ndim(rho) else float(out[0])
