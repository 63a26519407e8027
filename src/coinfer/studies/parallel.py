"""The parallel map behind every study: joblib on one machine, with a progress bar.

No backend is named here, so a user switches it from the outside without code changes::

    from joblib import parallel_config
    with parallel_config(backend="loky", n_jobs=4):
        result = sweep(scenario, "latency", values)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["parallel_map"]


def parallel_map(
    func: Callable, items: Sequence, *, n_jobs: int | None = None, progress: bool = True, desc: str = ""
) -> list:
    """``[func(x) for x in items]`` through :class:`joblib.Parallel`, with a tqdm progress bar.

    ``n_jobs=None`` defers to the active :func:`joblib.parallel_config` (one process by default), so a
    Dask or Ray backend set by the caller is used as is. The results keep the order of ``items``.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    items = list(items)
    kwargs = {} if n_jobs is None else {"n_jobs": n_jobs}
    runner = Parallel(return_as="generator", **kwargs)
    out = runner(delayed(func)(x) for x in items)
    return list(tqdm(out, total=len(items), desc=desc, disable=not progress, leave=False))
