"""The parallel map on Dask distributed gives exactly the serial results (LocalCluster, 2 workers).

The cluster runs its workers as threads (``processes=False``): starting worker processes costs
seconds on a small machine, and the point checked here (the same tasks, the same order, the same
numbers) does not depend on it. ``dask=True`` (a process LocalCluster) is checked once as well.
"""

from __future__ import annotations

import numpy as np
import pytest

from coinfer.studies.network_drops import network_drops, one_drop
from coinfer.studies.parallel import DASK_ENV, dask_target, parallel_map

distributed = pytest.importorskip("distributed")

OPTIONS = (("device_classes", ("phone-npu", "laptop")), ("models", ("gpt2",)), ("n_shares", 4))


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _square(x):
    return x * x


def test_dask_target_reads_the_environment(monkeypatch):
    monkeypatch.delenv(DASK_ENV, raising=False)
    assert dask_target() is None
    monkeypatch.setenv(DASK_ENV, "tcp://127.0.0.1:8786")
    assert dask_target() == "tcp://127.0.0.1:8786"
    assert dask_target(False) is None
    with pytest.raises(ValueError, match="^dask"):
        dask_target(3.5)
    with pytest.raises(ValueError, match="^dask"):
        dask_target("  ")


def test_client_map_keeps_order(client):
    items = list(range(23))
    assert parallel_map(_square, items, dask=client) == [x * x for x in items]


def test_network_drops_on_dask_equal_the_serial_run(client, monkeypatch):
    tasks = [(k, 11 + k, OPTIONS) for k in (1, 2, 3)]
    serial = [one_drop(t) for t in tasks]
    # by address, through the environment variable, as a cluster user would run it
    monkeypatch.setenv(DASK_ENV, client.scheduler.address)
    remote = parallel_map(one_drop, tasks)
    assert len(remote) == len(serial)
    for a, b in zip(remote, serial, strict=True):
        assert list(a) == list(b)
        np.testing.assert_array_equal(
            np.array(list(a.values()), float), np.array(list(b.values()), float)
        )


def test_study_on_dask_equals_serial(client):
    kwargs = dict(
        n_devices=(1, 2),
        n_drops=2,
        seed=3,
        n_shares=4,
        use_cache=False,
        device_classes=("phone-npu", "laptop"),
        models=("gpt2",),
    )
    serial = network_drops(dask=False, **kwargs)
    remote = network_drops(dask=client, **kwargs)
    assert serial.data.keys() == remote.data.keys()
    for name in serial.data:
        np.testing.assert_array_equal(serial[name], remote[name])


def test_dask_true_starts_a_process_cluster():
    assert parallel_map(_square, [1, 2, 3], dask=True, n_jobs=2) == [1, 4, 9]
