"""The parallel map behind every study: joblib on one machine, Dask distributed on a cluster.

Without a Dask client or scheduler the map runs through :class:`joblib.Parallel`, whose backend a
user switches from the outside without code changes::

    from joblib import parallel_config
    with parallel_config(backend="loky", n_jobs=4):
        result = sweep(scenario, "latency", values)

With ``dask=`` (a :class:`distributed.Client`, a scheduler address such as
``"tcp://10.0.0.1:8786"``, or ``True``), or with the environment variable
``COINFER_DASK_SCHEDULER`` set to a scheduler address, the same map runs on Dask distributed: the
existing scheduler when an address is given, else a :class:`distributed.LocalCluster` started for
the call. So a study runs on a laptop or a cluster without code changes. The results always keep
the order of ``items`` and are those of the serial run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["parallel_map", "DASK_ENV", "dask_target"]

#: The environment variable naming a Dask scheduler address for every study.
DASK_ENV = "COINFER_DASK_SCHEDULER"


def dask_target(dask: Any = None) -> Any:
    """What :func:`parallel_map` will run on: ``None`` (joblib), a Dask client, an address or ``True``.

    ``dask=None`` reads :data:`DASK_ENV` (an address, or unset for joblib); ``dask=False`` forces
    joblib; a string must be a scheduler address.
    """
    if dask is None:
        address = os.environ.get(DASK_ENV, "").strip()
        return address or None
    if dask is False:
        return None
    if dask is True or isinstance(dask, str):
        if isinstance(dask, str) and not dask.strip():
            raise ValueError(f"dask must be a scheduler address, a Client or True; got {dask!r}")
        return dask
    if hasattr(dask, "submit") and hasattr(dask, "gather"):
        return dask
    raise ValueError(
        f"dask must be a scheduler address, a distributed.Client or True; got {dask!r}"
    )


def _dask_map(func: Callable, items: list, target: Any, n_workers: int | None) -> list:
    from distributed import Client, LocalCluster

    if hasattr(target, "submit"):
        futures = target.map(func, items, pure=False)
        return target.gather(futures)
    if target is True:
        workers = n_workers or min(2, os.cpu_count() or 1)
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            return client.gather(client.map(func, items, pure=False))
    with Client(target) as client:
        return client.gather(client.map(func, items, pure=False))


def parallel_map(
    func: Callable,
    items: Sequence,
    *,
    n_jobs: int | None = None,
    progress: bool = True,
    desc: str = "",
    dask: Any = None,
) -> list:
    """``[func(x) for x in items]`` in parallel, in the order of ``items``.

    Args:
        func: a picklable function (module level) of one item.
        items: the inputs.
        n_jobs: joblib workers (``None`` defers to the active :func:`joblib.parallel_config`, one
            process by default), or the number of workers of a LocalCluster started for ``dask=True``.
        progress: show a tqdm progress bar (joblib only).
        desc: the progress bar's label.
        dask: ``None`` (use ``$COINFER_DASK_SCHEDULER`` if set, else joblib), ``False`` (joblib),
            ``True`` (a LocalCluster for this call), a scheduler address, or a
            :class:`distributed.Client`.
    """
    items = list(items)
    target = dask_target(dask)
    if target is not None:
        return list(_dask_map(func, items, target, n_jobs))
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    kwargs = {} if n_jobs is None else {"n_jobs": n_jobs}
    runner = Parallel(return_as="generator", **kwargs)
    out = runner(delayed(func)(x) for x in items)
    return list(tqdm(out, total=len(items), desc=desc, disable=not progress, leave=False))
