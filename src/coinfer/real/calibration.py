"""Calibrate a device: time every block of a real model on this machine, per pruning kind and ratio.

:func:`calibrate` builds, for each pruning kind and each ratio of a grid, the pruned model
(``"unstructured"``: global magnitude pruning, :mod:`coinfer.real.pruning`; ``"structured"``: heads
and MLP channels removed, :mod:`coinfer.real.structured`), runs its embedding once on one sequence of
``seq_len`` tokens of English text, and times each block's forward pass within whole passes over
the blocks, as split execution runs them (``repeats`` timed passes after one warm-up, on the thread's CPU clock with one thread, see
:func:`time_call`; median and interquartile
range, and the 90th percentile), with ``threads`` torch threads (restored afterwards). Unstructured blocks are timed twice:
with PyTorch's dense kernels, and with every weight product run as a CSR sparse product
(:class:`CSRLinear`); the block's time is the faster of the two, as a deployment would choose per
block (by the median). The embedding and the head, which no kind prunes, are timed once on the dense
model. Each block's 90th-percentile times are fitted non-increasing in ``rho`` (isotonic
regression): the calibrated model budgets for a slow run rather than a typical one, a margin for a
machine whose load varies.
"""

from __future__ import annotations

import copy
import os
import platform
import time

import numpy as np
import torch

from ..cache import cached
from ..system.device_profile import MEASURED_TABLES, DeviceProfile
from ..validation import check_int, check_real
from . import split_execution as ci
from .models import load_model, model_spec
from .pruning import MagnitudeRanking
from .structured import analytic_flops, prune_structured, structure_of

__all__ = [
    "CALIBRATION_KINDS",
    "CSRLinear",
    "calibrate",
    "check_grid",
    "host_clock",
    "time_call",
    "csr_block",
    "block_call",
    "PROFILE_OF",
    "CLOCKS",
]

#: Pruning kinds :func:`calibrate` can measure.
CALIBRATION_KINDS = ("unstructured", "structured")
#: The built-in profile that matches each real model.
PROFILE_OF = {"minilm": "minilm-l6", "smollm2": "smollm2-135m"}


def check_grid(ratios) -> np.ndarray:
    """The ratio grid as an array: values in ``[0, 1)``, strictly increasing; 0 is added if missing.

    Raises a one-line ``ValueError`` naming the offending value otherwise.
    """
    r = np.atleast_1d(np.asarray(ratios, dtype=float))
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"ratios must be a non-empty list of numbers; got {ratios!r}")
    for v in r:
        check_real("ratios", float(v), 0.0, 1.0, hi_open=True)
    if np.any(np.diff(r) <= 0):
        raise ValueError(f"ratios must be strictly increasing; got {r.tolist()}")
    return r if r[0] == 0.0 else np.concatenate([[0.0], r])


def host_clock() -> float:
    """The host's nominal clock in Hz: the largest ``cpu MHz`` of ``/proc/cpuinfo`` (2 GHz if none).

    The nominal clock is a label, not a measurement: the clock is not controllable, and a profile's
    times are converted to cycles with it (see :mod:`coinfer.system.device_profile`).
    """
    try:
        with open("/proc/cpuinfo") as fh:
            mhz = [float(line.split(":")[1]) for line in fh if line.lower().startswith("cpu mhz")]
        return max(mhz) * 1e6 if mhz else 2.0e9
    except OSError:
        return 2.0e9


#: Clocks :func:`time_call` can read: the calling thread's CPU time, or the wall clock.
CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


def time_call(fn, repeats: int, clock: str = "cpu") -> np.ndarray:
    """The seconds of ``repeats`` calls of ``fn``, after one untimed warm-up call.

    ``clock="cpu"`` reads the calling thread's CPU time (``time.thread_time``): with one torch
    thread the computation runs in that thread, and the time the operating system gives other
    processes is not counted, so a shared machine's load does not enter. ``"wall"`` reads the wall
    clock (``time.perf_counter``), needed with several threads.
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {tuple(CLOCKS)}; got {clock!r}")
    read = CLOCKS[clock]
    fn()
    t = np.empty(repeats)
    for i in range(repeats):
        start = read()
        fn()
        t[i] = read() - start
    return t


def _stats(t: np.ndarray) -> tuple[float, float, float]:
    """``(median, interquartile range, 90th percentile)`` of timings in s."""
    q1, med, q3, q9 = np.percentile(t, [25, 50, 75, 90])
    return float(med), float(q3 - q1), float(q9)


class CSRLinear(torch.nn.Module):
    """A linear layer whose weight is stored and multiplied as a CSR sparse matrix."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.weight_csr = linear.weight.detach().to_sparse_csr()
        self.bias = None if linear.bias is None else linear.bias.detach().clone()
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        y = torch.sparse.mm(self.weight_csr, flat.T).T
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


def csr_block(block: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``block`` with every ``nn.Linear`` replaced by a :class:`CSRLinear`."""
    out = copy.deepcopy(block)
    for _name, module in list(out.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(module, child_name, CSRLinear(child))
    return out


def block_call(model, block, hidden, ctx):
    """One block's forward pass as :mod:`coinfer.real.split_execution` runs it."""
    if type(model).__name__ == "LlamaForCausalLM":
        return block(hidden, **ctx)
    return block(hidden, ctx["attention_mask"])


def _pass_times(model, blocks, ids, mask, repeats: int, clock: str) -> np.ndarray:
    """``(repeats, L)`` seconds of each block within whole passes over ``blocks`` (one warm-up pass).

    Blocks are timed in sequence, as split execution runs them (each block's weights are loaded
    after the previous block's, not from a cache warmed by repeating one block).
    """
    read = CLOCKS[clock]
    out = np.empty((repeats, len(blocks)))
    with torch.no_grad():
        for r in range(-1, repeats):
            h = ci._embed(model, ids, mask)
            ctx = ci._context(model, h, mask)
            t0 = read()
            for i, block in enumerate(blocks):
                h = block_call(model, block, h, ctx)
                t1 = read()
                if r >= 0:
                    out[r, i] = t1 - t0
                t0 = t1
    return out


def _machine(threads: int, clock: str) -> dict:
    return {
        "clock": clock,
        "processor": platform.processor() or platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
    }


def calibrate(
    model: str,
    *,
    kinds=CALIBRATION_KINDS,
    ratios=(0.0, 0.25, 0.5, 0.75, 0.9),
    seq_len: int = 128,
    repeats: int = 5,
    threads: int = 1,
    seed: int = 0,
    f_ref: float | None = None,
    clock: str | None = None,
) -> DeviceProfile:
    """Measure a :class:`~coinfer.system.device_profile.DeviceProfile` of ``model`` on this machine.

    Args:
        model: a real model's key, ``"minilm"`` or ``"smollm2"``.
        kinds: pruning kinds to measure, from :data:`CALIBRATION_KINDS`.
        ratios: the grid of pruning ratios, in ``[0, 1)``, strictly increasing (0 is added).
        seq_len: tokens per inference ``n``.
        repeats: timed runs per measurement (after one warm-up).
        threads: torch threads during the timing (restored afterwards).
        seed: which English text is timed (:func:`coinfer.real.split_execution.english_batch`).
        f_ref: reference clock in Hz (default: :func:`host_clock`).
        clock: ``"cpu"`` (thread CPU time; the default with one thread) or ``"wall"`` (the default
            with several threads); see :func:`time_call`.
    """
    if model not in PROFILE_OF:
        raise ValueError(f"model must be one of {', '.join(PROFILE_OF)}; got {model!r}")
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in CALIBRATION_KINDS]
    if not kinds or bad:
        raise ValueError(f"kinds must be a non-empty subset of {CALIBRATION_KINDS}; got {kinds!r}")
    grid = check_grid(ratios)
    n = check_int("seq_len", seq_len, 1)
    repeats = check_int("repeats", repeats, 1)
    threads = check_int("threads", threads, 1)
    seed = check_int("seed", seed, 0)
    clock = ("cpu" if threads == 1 else "wall") if clock is None else clock
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {tuple(CLOCKS)}; got {clock!r}")
    if clock == "cpu" and threads > 1:
        raise ValueError(
            f"clock 'cpu' needs threads=1 (the thread's CPU time); got threads={threads}"
        )
    f_ref = (
        host_clock() if f_ref is None else check_real("f_ref", f_ref, 0.0, lo_open=True, unit="Hz")
    )

    start = time.perf_counter()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        dense = load_model(model).eval()
        ids, mask = ci.english_batch(model, 1, n, seed=seed)
        st = structure_of(dense)
        L = st.n_blocks
        with torch.no_grad():

            def embed():  # the device's work before block 1: embeddings, mask, positions
                h = ci._embed(dense, ids, mask)
                return ci._context(dense, h, mask)

            embed_t = _stats(time_call(embed, repeats, clock))[2]
            hidden = ci._run_blocks(dense, ci._embed(dense, ids, mask), mask, 0, L)
            head_t = _stats(time_call(lambda: ci._head(dense, hidden, mask), repeats, clock))[2]
        dense_fl = analytic_flops(st, st.heads_per_group, st.d_ff, n)
        tables = {name: {} for name in MEASURED_TABLES}
        for kind in kinds:
            med = np.zeros((grid.size, L))
            spread = np.zeros((grid.size, L))
            upper = np.zeros((grid.size, L))
            flops = np.zeros((grid.size, L))
            achieved = np.zeros(grid.size)
            use_csr = np.zeros((grid.size, L))
            if kind == "unstructured":
                ranking = MagnitudeRanking(dense, exclude=model_spec(model).prune_exclude)
                work = copy.deepcopy(dense)
            for j, r in enumerate(grid):
                if kind == "unstructured":
                    achieved[j] = ranking.apply(work, float(r))
                    pruned = work
                    flops[j] = dense_fl["block_weight"] + dense_fl["block_attention"]
                else:
                    res = prune_structured(dense, float(r))
                    pruned, achieved[j] = res.model, res.achieved_ratio
                    fl = analytic_flops(st, res.heads_kept, res.channels_kept, n)
                    flops[j] = fl["block_weight"] + fl["block_attention"]
                dense_t = _pass_times(pruned, list(ci._blocks(pruned)), ids, mask, repeats, clock)
                stats = [_stats(dense_t[:, i]) for i in range(L)]
                if kind == "unstructured" and r > 0:
                    sparse = [csr_block(b) for b in ci._blocks(pruned)]
                    csr_t = _pass_times(pruned, sparse, ids, mask, repeats, clock)
                    for i in range(L):
                        csr = _stats(csr_t[:, i])
                        if csr[0] < stats[i][0]:
                            stats[i], use_csr[j, i] = csr, 1.0
                med[j], spread[j], upper[j] = np.array(stats).T
            tables["block_median"][kind] = med
            tables["block_spread"][kind] = spread
            tables["block_upper"][kind] = upper
            tables["block_flops"][kind] = flops
            tables["achieved"][kind] = achieved
            tables["csr"][kind] = use_csr
    finally:
        torch.set_num_threads(old_threads)
    return DeviceProfile(
        model=model,
        profile=PROFILE_OF[model],
        machine=_machine(threads, clock),
        f_ref=f_ref,
        seq_len=n,
        threads=threads,
        repeats=repeats,
        rho=grid,
        embed_seconds=embed_t,
        head_seconds=head_t,
        block_seconds={k: DeviceProfile.fit(tables["block_upper"][k]) for k in kinds},
        head_flops=dense_fl["head"],
        seconds=time.perf_counter() - start,
        **tables,
    )


def cached_calibration(model: str, **kwargs) -> DeviceProfile:
    """:func:`calibrate` through the disk cache, keyed by its arguments, the weights and the host.

    Timings belong to a machine: the key holds the processor, the number of CPUs and the reference
    clock, so another host measures anew.
    """
    if model not in PROFILE_OF:
        raise ValueError(f"model must be one of {', '.join(PROFILE_OF)}; got {model!r}")
    host = dict(
        _machine(kwargs.get("threads", 1), kwargs.get("clock") or ""),
        f_ref=host_clock(),
        node=platform.node(),
    )
    params = dict(model=model_spec(model).fingerprint(), host=host, **kwargs)
    return cached("device-profile", params, lambda: calibrate(model, **kwargs))


def _kernel_row(profile: DeviceProfile, kind: str, rho: float) -> np.ndarray:
    """Per block, whether the calibration found CSR faster at the grid point at or below ``rho``."""
    if kind not in profile.csr:
        return np.zeros(profile.n_blocks)
    j = max(int(np.searchsorted(profile.achieved[kind], rho + 1e-12, side="right")) - 1, 0)
    return np.asarray(profile.csr[kind][j])


def run_device_part(
    model, ids, mask, split: int, csr_blocks, *, repeats: int = 5, clock: str = "cpu"
) -> np.ndarray:
    """Time the device part of split execution: the embedding, blocks ``1..split`` and, at
    ``split = L``, the head; blocks flagged in ``csr_blocks`` run with CSR kernels. Returns the
    ``repeats`` times in s (after one warm-up)."""
    blocks = list(ci._blocks(model))
    L = len(blocks)
    run = [csr_block(b) if csr_blocks[i] else b for i, b in enumerate(blocks[:split])]

    def device():
        h = ci._embed(model, ids, mask)
        if split == 0:
            return h
        ctx = ci._context(model, h, mask)
        for b in run:
            h = block_call(model, b, h, ctx)
        return ci._head(model, h, mask) if split == L else h

    with torch.no_grad():
        return time_call(device, repeats, clock) if split > 0 else np.zeros(repeats)
