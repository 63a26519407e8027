"""The title's question: a larger model pruned harder, or a smaller model pruned less?"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..cache import cached
from ..system import Scenario, builtin_profile
from ..validation import check_real
from .sweeps import SWEEP_PARAMETERS, sweep

__all__ = [
    "KAPLAN_ALPHA_N",
    "KAPLAN_N_C",
    "non_embedding_params",
    "effective_params",
    "kaplan_loss",
    "breakeven_beta",
    "implied_beta",
    "ModelSizeStudy",
    "model_size_study",
]


#: The exponent ``alpha_N`` of the test loss ``L(N) = (N_c / N)^alpha_N`` in nats per token of a
#: converged dense transformer language model with ``N`` non-embedding parameters (WebText2), from
#: eq. (1.1) of Kaplan et al. (2020).
KAPLAN_ALPHA_N = 0.076
#: ... and its constant ``N_c`` (non-embedding parameters).
KAPLAN_N_C = 8.8e13


def non_embedding_params(profile) -> float:
    """Weights in the blocks of a profile (``sum_l F^w_l / (2 n)``): Kaplan et al.'s non-embedding ``N``.

    Each block weight costs ``2 n`` FLOPs per pass over ``n`` tokens (one multiply-add per token).
    """
    if profile.seq_len < 1:
        raise ValueError(f"profile.seq_len must be in [1, inf) tokens; got {profile.seq_len}")
    return float(np.sum(profile.weight_flops)) / (2.0 * profile.seq_len)


def effective_params(n_params, rho, beta):
    """Effective size ``N (1 - rho)^beta`` of a model of ``N`` weights pruned at ratio ``rho``.

    ``beta = 1``: the pruned model is worth a dense model with as many weights as it has non-zeros;
    ``beta < 1``: it is worth more (a sparsity bonus); ``beta > 1``: less. Vectorised (broadcast).
    """
    n = np.asarray(n_params, dtype=float)
    r = np.asarray(rho, dtype=float)
    b = np.asarray(beta, dtype=float)
    if np.any(n <= 0) or np.any((r < 0) | (r >= 1)) or np.any(b < 0):
        raise ValueError(
            f"need n_params in (0, inf), rho in [0, 1), beta in [0, inf); got {n_params!r}, {rho!r}, {beta!r}"
        )
    return n * (1.0 - r) ** b


def kaplan_loss(n_params, alpha: float = KAPLAN_ALPHA_N, n_c: float = KAPLAN_N_C):
    """Kaplan et al.'s ``L(N) = (N_c / N)^alpha`` in nats per token, vectorised over ``n_params``."""
    n = np.asarray(n_params, dtype=float)
    if np.any(~(n > 0)):
        raise ValueError(f"n_params must be in (0, inf); got {n_params!r}")
    check_real("alpha", alpha, 0.0, lo_open=True)
    check_real("n_c", n_c, 0.0, lo_open=True)
    return (n_c / n) ** alpha


def breakeven_beta(n_small, rho_small, n_large, rho_large):
    """The ``beta`` at which a larger model (``n_large`` weights, pruned ``rho_large``) and a smaller one
    (``n_small``, ``rho_small``) have the same effective size.

    ``beta* = ln(n_large / n_small) / ln((1 - rho_small) / (1 - rho_large))``; the larger model is
    effectively larger for every ``beta < beta*``. ``inf`` when ``rho_large <= rho_small`` (the larger model
    wins for every ``beta``). Vectorised.
    """
    ns, nl = np.asarray(n_small, dtype=float), np.asarray(n_large, dtype=float)
    rs, rl = np.asarray(rho_small, dtype=float), np.asarray(rho_large, dtype=float)
    if np.any(nl <= ns):
        raise ValueError("n_large must exceed n_small")
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.log(nl / ns) / np.log((1.0 - rs) / (1.0 - rl))
    return np.where(rl <= rs, np.inf, beta)


@dataclass(frozen=True)
class ModelSizeStudy:
    """The joint design's pruning ratio for several models across the values of one parameter.

    Attributes:
        models: built-in model names, in increasing size; ``n_params``: their non-embedding weights.
        param, unit, values: the swept parameter.
        rho: ``(n_values, n_models)`` optimal pruning ratio (``nan`` where infeasible).
        objective: ``(n_values, n_models)`` surrogate objective ``Dbar(rho)``.
        feasible: ``(n_values, n_models)``.
    """

    models: tuple
    n_params: np.ndarray
    param: str
    unit: str
    values: tuple
    rho: np.ndarray
    objective: np.ndarray
    feasible: np.ndarray

    def best_model(self, beta: float) -> np.ndarray:
        """Index of the model of largest effective size at each value (``-1`` if none is feasible)."""
        r = np.where(self.feasible, self.rho, 0.0)
        eff = np.where(self.feasible, effective_params(self.n_params[None, :], r, beta), -np.inf)
        return np.where(self.feasible.any(axis=1), np.argmax(eff, axis=1), -1)


def model_size_study(
    scenario: Scenario,
    models: Sequence[str] = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "llama-2-7b"),
    param: str = "latency",
    values: Iterable = (0.1, 0.2, 0.5, 1.0, 2.0),
    *,
    n_jobs: int | None = None,
    progress: bool = False,
    use_cache: bool = True,
) -> ModelSizeStudy:
    """Run the joint design for each model at each value of ``param`` (no fading)."""
    models, values = tuple(models), tuple(values)
    n_params = np.array(
        [non_embedding_params(builtin_profile(m, scenario.profile.seq_len)) for m in models]
    )
    if np.any(np.diff(n_params) <= 0):
        raise ValueError(f"models must be in increasing size; got {models} with {n_params}")

    def compute():
        runs = [
            sweep(
                scenario.replace(**{param: v}),
                "model",
                models,
                ("proposed",),
                use_cache=False,
                n_jobs=n_jobs,
                progress=progress,
            )
            for v in values
        ]
        return ModelSizeStudy(
            models=models,
            n_params=n_params,
            param=param,
            unit=SWEEP_PARAMETERS[param],
            values=values,
            rho=np.stack([r.rho[0] for r in runs]),
            objective=np.stack([r.objective[0] for r in runs]),
            feasible=np.stack([r.feasible[0] for r in runs]),
        )

    key = {"scenario": scenario, "models": models, "param": param, "values": values}
    return cached("modelsize", key, compute, use_cache=use_cache)


def implied_beta(loss_ratio, rho, alpha: float = KAPLAN_ALPHA_N):
    """The pruning exponent ``beta`` implied by a measured loss ratio ``L_rho / L_0`` at ratio ``rho``.

    Under ``L(N) = (N_c / N)^alpha`` and ``N_eff = N (1 - rho)^beta``,
    ``L_rho / L_0 = (1 - rho)^(-alpha beta)``, so ``beta = ln(L_rho / L_0) / (alpha ln(1 / (1 - rho)))``.
    Vectorised; ``rho`` in ``(0, 1)``, ``loss_ratio > 0``.
    """
    q = np.asarray(loss_ratio, dtype=float)
    r = np.asarray(rho, dtype=float)
    if np.any(~(q > 0)) or np.any((r <= 0) | (r >= 1)):
        raise ValueError(
            f"need loss_ratio in (0, inf) and rho in (0, 1); got {loss_ratio!r}, {rho!r}"
        )
    check_real("alpha", alpha, 0.0, lo_open=True)
    return np.log(q) / (alpha * -np.log1p(-r))
