"""The default parameter table: every default of the system model with its symbol, unit and source.

The dataclass defaults of :mod:`coinfer.system` and of the profile functions are read
from :data:`DEFAULTS`, so the table printed in the book and the code cannot disagree. Values are SI
(Hz, W, J, s, bits, FLOPs); ``shown`` is the same value in the unit a reader expects (GHz, dBm, ms).

Sources are bibtex keys of ``references.bib``. Two values are our choice, not a source's: the budget
(``Budget.latency``, ``Budget.energy``), chosen so that the default scenario is resource-limited (the
chapter "The co-inference system" checks it), and the privacy floor ``Scenario.min_split``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "Default",
    "DEFAULTS",
    "default",
    "defaults_table",
    "PATH_LOSS_DB_AT_1KM",
    "PATH_LOSS_DB_PER_DECADE",
]

#: 3GPP TR 36.814 urban path loss ``128.1 + 37.6 log10(d / 1 km)`` dB: the value at 1 km, dB.
PATH_LOSS_DB_AT_1KM = 128.1
#: ... and the slope, dB per decade of distance.
PATH_LOSS_DB_PER_DECADE = 37.6


@dataclass(frozen=True)
class Default:
    """One row of the default parameter table.

    Attributes:
        key: the code name, ``"<Class>.<field>"`` (e.g. ``"Device.f_max"``) or a function argument.
        symbol: the LaTeX symbol of the book's notation page, without dollars.
        value: the value in SI units (a number, or a string for the model name).
        unit: the SI unit of ``value`` (``""`` if dimensionless).
        shown: the value as a reader expects to see it, e.g. ``"2 GHz"`` or ``"23.0 dBm"``.
        reason: why this value, in a sentence.
        cite: bibtex keys backing the reason (may be empty for our own choices).
    """

    key: str
    symbol: str
    value: float | int | str
    unit: str
    shown: str
    reason: str
    cite: tuple[str, ...] = ()


def _dbm(watt: float) -> float:
    return 10.0 * math.log10(watt) + 30.0


_N0_DBM = -174.0  # dBm/Hz: thermal noise k T0 at T0 = 290 K is -173.98 dBm/Hz
_N0 = 10.0 ** ((_N0_DBM - 30.0) / 10.0)  # W/Hz
_D = 100.0  # m
_F_MAX = 2.0e9  # Hz
_PHI_D = 32.0  # FLOPs/cycle
_PL = PATH_LOSS_DB_AT_1KM + PATH_LOSS_DB_PER_DECADE * math.log10(_D / 1000.0)  # dB

_ROWS = (
    Default(
        "Device.f_max",
        r"f_{\max}",
        _F_MAX,
        "Hz",
        f"{_F_MAX / 1e9:g} GHz",
        "Device clock ceiling of the authors' framework (mobile SoC class).",
        ("lyu2026quantization",),
    ),
    Default(
        "Device.flops_per_cycle",
        r"\phi_d",
        _PHI_D,
        "FLOPs/cycle",
        f"{_PHI_D:g}",
        "Device FLOPs per cycle of the authors' framework (SIMD CPU/NPU): "
        f"peak {_F_MAX * _PHI_D / 1e9:g} GFLOP/s at f_max.",
        ("lyu2026quantization",),
    ),
    Default(
        "Device.kappa",
        r"\kappa",
        2.0e-29,
        "J/(cycle Hz^2)",
        "2e-29",
        "Effective switched capacitance of the authors' framework (PUE 1 on the device): "
        "energy per cycle kappa f^2, the CMOS dynamic-power model.",
        ("lyu2026quantization", "burd1996processor"),
    ),
    Default(
        "Device.p_max",
        r"p_{\max}",
        0.2,
        "W",
        f"0.2 W ({_dbm(0.2):.1f} dBm)",
        "Maximum transmit power of a 3GPP power-class-3 user terminal (23 dBm).",
        ("3gpp36814",),
    ),
    Default(
        "Uplink.bandwidth",
        "B",
        5.0e6,
        "Hz",
        "5 MHz",
        "One LTE channel bandwidth (LTE offers 1.4 to 20 MHz); the authors' group uses 5 MHz "
        "in its related work.",
    ),
    Default(
        "Uplink.noise_psd",
        "N_0",
        _N0,
        "W/Hz",
        f"{_dbm(_N0):.1f} dBm/Hz",
        "Thermal noise density k T0 at T0 = 290 K, rounded as in 3GPP evaluations "
        "(no receiver noise figure).",
        ("3gpp36814",),
    ),
    Default(
        "Uplink.distance",
        "d",
        _D,
        "m",
        f"{_D:.0f} m",
        "Device-to-server distance of a small cell; sets the default channel gain below.",
        ("3gpp36814",),
    ),
    Default(
        "Uplink.gain",
        "g",
        10.0 ** (-_PL / 10.0),
        "",
        f"-{_PL:.1f} dB",
        f"3GPP urban path loss {PATH_LOSS_DB_AT_1KM} + {PATH_LOSS_DB_PER_DECADE} log10(d/km) dB "
        "at the distance d above, no fading "
        "(fading enters through Scenario.replace(gain=...)).",
        ("3gpp36814",),
    ),
    Default(
        "EdgeServer.flops",
        r"\Phi_s",
        10.0e9 * 128.0,
        "FLOP/s",
        "1.28 TFLOP/s",
        "Edge-server clock 10 GHz times 128 FLOPs per cycle in the authors' framework, "
        "all of it serving this user.",
        ("lyu2026quantization",),
    ),
    Default(
        "Budget.latency",
        r"T_{\max}",
        0.2,
        "s",
        "200 ms",
        "Our choice: an interactive deadline that unpruned gpt2-large misses at every split, "
        "even at full clock and power, so the default optimum must prune.",
    ),
    Default(
        "Budget.energy",
        r"E_{\max}",
        0.01,
        "J",
        "10 mJ",
        "Our choice: tight enough that it binds together with the deadline at the default "
        "optimum (it raises the least feasible pruning ratio at split 1).",
    ),
    Default(
        "Scenario.rho_max",
        r"\rho_{\max}",
        0.95,
        "",
        "0.95",
        "Largest pruning ratio considered; it keeps the feasible set away from rho = 1, where "
        "nothing of the model is left (one-shot pruning of language models already loses "
        "accuracy well below this).",
        ("frantar2023sparsegpt", "sun2024wanda"),
    ),
    Default(
        "Scenario.min_split",
        r"s_{\min}",
        1,
        "",
        "1",
        "Our choice: the privacy floor. Raw tokens never leave the device; at least one block "
        "runs locally.",
    ),
    Default(
        "model",
        "",
        "gpt2-large",
        "",
        "gpt2-large",
        "The 36-block GPT-2: too large for the device alone, small enough for "
        "the edge server within the deadline.",
        ("radford2019language",),
    ),
    Default(
        "seq_len",
        "n",
        128,
        "tokens",
        "128",
        "Tokens per inference: a short prompt or a sentence-embedding input.",
    ),
    Default(
        "b_tok",
        r"b_{\mathrm{tok}}",
        32,
        "bits",
        "32",
        "Bits per token id sent at split 0 (int32).",
    ),
    Default(
        "b_act",
        r"b_{\mathrm{act}}",
        16,
        "bits",
        "16",
        "Bits per activation sent at an interior split (fp16 features).",
    ),
)

#: The default parameter table, by code name.
DEFAULTS: dict[str, Default] = {row.key: row for row in _ROWS}


def default(key: str):
    """The default value (SI units) of ``key``, a code name of :data:`DEFAULTS` such as ``"Device.f_max"``."""
    if key not in DEFAULTS:
        raise ValueError(f"key must be one of {', '.join(DEFAULTS)}; got {key!r}")
    return DEFAULTS[key].value


def _si(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def defaults_table(cite_role: str = "{cite:p}") -> str:
    """The default parameter table as a MyST/GFM markdown table (one row per entry of :data:`DEFAULTS`).

    Columns: symbol, code name, value (as shown), SI value and unit, reason and source. Sources are
    written as ``{cite:p}`key``` MyST roles; pass ``cite_role=""`` for plain ``[key]`` text.
    """
    lines = [
        "| Symbol | Code name | Value | SI value | Reason and source |",
        "|---|---|---|---|---|",
    ]
    for row in _ROWS:
        symbol = f"${row.symbol}$" if row.symbol else ""
        si = f"{_si(row.value)} {row.unit}".strip()
        if row.cite:
            keys = ",".join(row.cite)
            src = f" {cite_role}`{keys}`" if cite_role else f" [{keys}]"
        else:
            src = ""
        lines.append(f"| {symbol} | `{row.key}` | {row.shown} | {si} | {row.reason}{src} |")
    return "\n".join(lines)
