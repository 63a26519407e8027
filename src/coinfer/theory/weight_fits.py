"""Statistics of pre-trained weights: Laplacian and Gaussian fits, and measured pruning distortion.

Maximum-likelihood fits (per weight tensor and pooled over a model's prunable weights):

* Laplace: location ``m`` = the median, scale ``b = mean |w - m|``, rate ``lam = 1/b``; the magnitude
  model used by the rate-distortion results fixes ``m = 0``, giving ``lam0 = 1 / mean |w|``.
* Gaussian: mean and standard deviation (the ``1/n`` estimator).

Log-likelihoods are per weight in nats, at the fitted parameters. Goodness of fit is the
Kolmogorov-Smirnov distance between the empirical law and the fitted law (``scipy.stats.kstest``); with
millions of weights every p-value is zero, so the distance itself is the effect size reported.

Large tensors are subsampled without replacement with an explicit seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..validation import check_array, check_int

__all__ = [
    "WeightFit",
    "fit_weights",
    "fit_table",
    "pooled_sample",
    "block_distinct_counts",
    "pruning_distortion",
]


@dataclass(frozen=True)
class WeightFit:
    """Laplace and Gaussian maximum-likelihood fits of one set of weights.

    Attributes:
        name: which weights (a parameter name or ``"pooled"``).
        n: number of weights in the tensor (before subsampling).
        n_used: number of weights the fit used.
        laplace_loc, laplace_scale: Laplace location ``m`` and scale ``b`` (weight units).
        lam: ``1 / b`` (1/weight unit). ``lam0``: ``1 / mean |w|``, the zero-location rate.
        gauss_mean, gauss_std: Gaussian parameters (weight units).
        loglik_laplace, loglik_gauss: mean log-likelihood per weight at the fit (nats).
        ks_laplace, ks_gauss: Kolmogorov-Smirnov distance to each fitted law (dimensionless).
        excess_kurtosis: sample excess kurtosis (Laplace 3, Gaussian 0).
    """

    name: str
    n: int
    n_used: int
    laplace_loc: float
    laplace_scale: float
    lam: float
    lam0: float
    gauss_mean: float
    gauss_std: float
    loglik_laplace: float
    loglik_gauss: float
    ks_laplace: float
    ks_gauss: float
    excess_kurtosis: float

    @property
    def laplace_preferred(self) -> bool:
        """Whether the Laplace fit has the higher likelihood."""
        return self.loglik_laplace > self.loglik_gauss


def _as_array(name, w) -> np.ndarray:
    if hasattr(w, "detach"):  # torch tensor
        w = w.detach().cpu().numpy()
    arr = np.asarray(w)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got NaN or inf")
    return arr


def _subsample(arr: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    if arr.size <= k:
        return arr
    return arr[rng.choice(arr.size, size=k, replace=False)]


def fit_weights(w, *, name: str = "", max_samples: int = 200_000, seed: int = 0) -> WeightFit:
    """Laplace and Gaussian ML fits, log-likelihoods and KS distances of the weights ``w``.

    Args:
        w: array or torch tensor of weights (any shape; flattened).
        name: label stored in the result.
        max_samples: fit on a seeded subsample of at most this many weights.
        seed: seed of the subsample.
    """
    from scipy import stats

    arr = _as_array("w", w)
    max_samples = check_int("max_samples", max_samples, 2)
    x = _subsample(arr, max_samples, np.random.default_rng(seed))
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError(f"w must hold at least two distinct values; got {x.size} of them")
    loc = float(np.median(x))
    scale = float(np.mean(np.abs(x - loc)))
    mean = float(x.mean())
    std = float(x.std())
    ll_lap = -np.log(2 * scale) - 1.0  # mean |x - loc| / scale = 1 at the ML scale
    ll_gau = -0.5 * np.log(2 * np.pi * std**2) - 0.5
    return WeightFit(
        name=name,
        n=int(arr.size),
        n_used=int(x.size),
        laplace_loc=loc,
        laplace_scale=scale,
        lam=1.0 / scale,
        lam0=1.0 / float(np.mean(np.abs(x))),
        gauss_mean=mean,
        gauss_std=std,
        loglik_laplace=float(ll_lap),
        loglik_gauss=float(ll_gau),
        ks_laplace=float(stats.kstest(x, "laplace", args=(loc, scale)).statistic),
        ks_gauss=float(stats.kstest(x, "norm", args=(mean, std)).statistic),
        excess_kurtosis=float(stats.kurtosis(x)),
    )


def pooled_sample(weights, n: int, seed: int = 0) -> np.ndarray:
    """A seeded sample of about ``n`` weights drawn from each tensor in proportion to its size.

    ``weights`` maps names to arrays or tensors. If ``n`` is at least the total, all weights are
    returned (concatenated in the mapping's order).
    """
    if not weights:
        raise ValueError("weights must not be empty; got no tensors")
    n = check_int("n", n, 1)
    arrays = [_as_array(f"weights[{k!r}]", v) for k, v in weights.items()]
    total = sum(a.size for a in arrays)
    rng = np.random.default_rng(seed)
    if n >= total:
        return np.concatenate(arrays)
    parts = [_subsample(a, max(1, round(n * a.size / total)), rng) for a in arrays]
    return np.concatenate(parts)


def fit_table(
    weights,
    *,
    pooled=None,
    max_samples: int = 200_000,
    pooled_samples: int = 1_000_000,
    seed: int = 0,
):
    """Fits of every tensor in ``weights`` (name -> array) and of all of them pooled (last row).

    ``pooled``: the pooled weights (e.g. :attr:`WeightSample.pooled`, drawn in proportion to the
    tensors' true sizes); by default a proportional sample of ``weights`` of ``pooled_samples``.
    """
    if not weights:
        raise ValueError("weights must not be empty; got no tensors")
    rows = [
        fit_weights(v, name=k, max_samples=max_samples, seed=seed + i)
        for i, (k, v) in enumerate(weights.items())
    ]
    if pooled is None:
        pooled = pooled_sample(weights, pooled_samples, seed)
    rows.append(fit_weights(pooled, name="pooled", max_samples=max(2, np.size(pooled)), seed=seed))
    return rows


def block_distinct_counts(w, block: int = 32) -> np.ndarray:
    """Number of distinct values in each block of ``block`` consecutive weights along the last axis.

    A Q4_1-dequantised tensor has at most 16 distinct values per 32-weight block (4-bit codes times
    the block's scale plus its minimum); an fp32 tensor almost always has ``block`` of them.
    """
    block = check_int("block", block, 1)
    if hasattr(w, "detach"):
        w = w.detach().cpu().numpy()
    arr = np.asarray(w, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"w must not be empty; got shape {arr.shape}")
    if arr.shape[-1] % block:
        raise ValueError(f"w's last axis ({arr.shape[-1]}) must be a multiple of block={block}")
    blocks = np.sort(arr.reshape(-1, block), axis=1)
    return 1 + np.count_nonzero(np.diff(blocks, axis=1), axis=1)


def pruning_distortion(w, rho, *, method: str = "magnitude", measure: str = "abs", seed: int = 0):
    """Measured distortion per weight of pruning a fraction ``rho`` of the weights ``w``.

    ``method="magnitude"`` zeroes the ``floor(rho n)`` smallest magnitudes (the least distortion of
    any pruning with that many zeros); ``"random"`` zeroes a seeded uniformly random subset. The
    distortion is the mean over all ``n`` weights of ``|w - w_hat|`` (``measure="abs"``, weight
    units) or ``(w - w_hat)^2`` (``"squared"``, weight units squared). Vectorised over ``rho`` in
    ``[0, 1)``.
    """
    arr = _as_array("w", w)
    r = check_array("rho", rho, lo=0.0, hi=1.0, hi_open=True, allow_empty=True)
    if method not in ("magnitude", "random"):
        raise ValueError(f"method must be 'magnitude' or 'random'; got {method!r}")
    if measure not in ("abs", "squared"):
        raise ValueError(f"measure must be 'abs' or 'squared'; got {measure!r}")
    cost = np.abs(arr) if measure == "abs" else arr**2
    if method == "magnitude":
        cost = np.sort(cost)
    else:
        cost = cost[np.random.default_rng(seed).permutation(cost.size)]
    cumulative = np.concatenate([[0.0], np.cumsum(cost)])
    k = np.floor(r * arr.size + 1e-9).astype(int)
    out = cumulative[k] / arr.size
    return float(out) if np.ndim(rho) == 0 else out
