"""The default parameter table: complete, sourced, used by the code, and resource-limited as claimed."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from coinfer.system import (
    Budget,
    Device,
    EdgeServer,
    Scenario,
    Uplink,
    deadline_rho,
    evaluate,
    path_gain,
    path_loss_db,
)
from coinfer.system.defaults import DEFAULTS, default, defaults_table

BIB = Path(__file__).resolve().parents[1] / "references.bib"


def test_every_row_is_complete():
    for key, row in DEFAULTS.items():
        assert row.key == key
        assert row.shown and row.reason.endswith((".", ")")), key
        assert row.symbol or key == "model", key
        if isinstance(row.value, float):
            assert math.isfinite(row.value) and row.value > 0, key


def test_every_citation_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,]+),", BIB.read_text(), flags=re.M))
    cited = {k for row in DEFAULTS.values() for k in row.cite}
    assert cited and cited <= keys, cited - keys


def test_our_own_choices_say_so():
    for key in ("Budget.latency", "Budget.energy", "Scenario.min_split"):
        assert DEFAULTS[key].reason.startswith("Our choice")


def test_dataclass_defaults_come_from_the_table():
    classes = {
        "Device": Device(),
        "Uplink": Uplink(),
        "EdgeServer": EdgeServer(),
        "Budget": Budget(),
    }
    checked = 0
    for key, row in DEFAULTS.items():
        owner, _, field = key.partition(".")
        if owner in classes and hasattr(classes[owner], field):
            assert getattr(classes[owner], field) == pytest.approx(row.value, rel=1e-12), key
            checked += 1
    assert checked == 10  # 4 device, 3 uplink (distance is not a field), 1 server, 2 budget
    assert Uplink().gain == pytest.approx(float(path_gain(default("Uplink.distance"))), rel=1e-12)


def test_shown_values_agree_with_si_values():
    assert DEFAULTS["Device.p_max"].shown.endswith(
        f"({10 * math.log10(default('Device.p_max')) + 30:.1f} dBm)"
    )
    assert DEFAULTS["Uplink.noise_psd"].shown == (
        f"{10 * math.log10(default('Uplink.noise_psd')) + 30:.1f} dBm/Hz"
    )
    assert (
        DEFAULTS["Uplink.gain"].shown
        == f"-{float(path_loss_db(default('Uplink.distance'))):.1f} dB"
    )
    assert DEFAULTS["EdgeServer.flops"].shown == f"{default('EdgeServer.flops') / 1e12:g} TFLOP/s"
    assert DEFAULTS["Budget.latency"].shown == f"{default('Budget.latency') * 1e3:.0f} ms"
    assert DEFAULTS["Budget.energy"].shown == f"{default('Budget.energy') * 1e3:.0f} mJ"


def test_table_has_one_row_per_entry():
    table = defaults_table().splitlines()
    assert len(table) == 2 + len(DEFAULTS)
    for line, key in zip(table[2:], DEFAULTS, strict=True):
        assert f"`{key}`" in line and line.count("|") == 6
    assert "{cite:p}`lyu2026quantization`" in defaults_table()
    assert "[lyu2026quantization]" in defaults_table(cite_role="")


def test_unknown_key():
    with pytest.raises(ValueError, match=r"key must be one of Device.f_max, .*; got 'f_max'"):
        default("f_max")


# ---- the budget reasons in the table, checked -------------------------------------------------


def test_unpruned_default_model_misses_the_deadline_at_every_split():
    sc = Scenario.default()
    dev, L = sc.device, sc.profile.n_blocks
    splits = np.arange(sc.min_split, L + 1)
    # latency falls with clock and power: (f_max, p_max) is the fastest operating point
    fastest = evaluate(sc, splits, 0.0, dev.p_max, dev.f_max)
    assert np.all(fastest.latency > sc.budget.latency)
    assert np.all(deadline_rho(sc, splits) > 0)


def test_energy_limit_binds_at_the_default_optimum_split():
    sc = Scenario.default()
    dev = sc.device
    rho_t = float(deadline_rho(sc, sc.min_split))
    assert 0 < rho_t < sc.rho_max
    # at rho_t the deadline is met only at (p_max, f_max); there the energy is over the limit,
    # so the least feasible rho at the floor split is strictly above rho_t
    at = evaluate(sc, sc.min_split, rho_t, dev.p_max, dev.f_max)
    assert at.latency == pytest.approx(sc.budget.latency)
    assert at.energy > sc.budget.energy


def test_full_on_device_inference_is_infeasible_at_the_defaults():
    sc = Scenario.default()
    L = sc.profile.n_blocks
    assert float(deadline_rho(sc, L)) > sc.rho_max
    assert float(deadline_rho(sc, L)) > float(deadline_rho(sc, sc.min_split))
