"""The package boundary convention: errors name the parameter, the value received and the range."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinfer.validation import check_array, check_int, check_real


def test_check_real_accepts_and_converts():
    assert check_real("p", np.float32(0.5), 0, 1) == 0.5
    assert isinstance(check_real("p", 1, 0, 1), float)
    assert check_real("T", math.inf, 0, lo_open=True, allow_inf=True) == math.inf


@pytest.mark.parametrize(
    "value, message",
    [
        (-1.0, r"bandwidth must be in \(0, inf\) Hz; got -1.0"),
        (0.0, r"bandwidth must be in \(0, inf\) Hz; got 0.0"),
        (math.nan, r"bandwidth must be in \(0, inf\) Hz; got nan"),
        (math.inf, r"bandwidth must be in \(0, inf\) Hz; got inf"),
    ],
)
def test_check_real_messages_name_parameter_value_and_range(value, message):
    with pytest.raises(ValueError, match=message):
        check_real("bandwidth", value, 0.0, lo_open=True, unit="Hz")


def test_check_real_rejects_non_numbers_and_bools():
    with pytest.raises(TypeError, match=r"rho must be a real number in \[0, 1\); got '0.5'"):
        check_real("rho", "0.5", 0, 1, hi_open=True)
    with pytest.raises(TypeError, match="rho"):
        check_real("rho", True, 0, 1)


def test_check_int():
    assert check_int("split", np.int64(3), 0, 5) == 3
    with pytest.raises(ValueError, match=r"split must be an integer in \[0, 5\]; got 6"):
        check_int("split", 6, 0, 5)
    with pytest.raises(TypeError, match=r"split must be an integer in \[0, 5\]; got 2.5"):
        check_int("split", 2.5, 0, 5)


def test_check_array_shape_range_and_read_only():
    arr = check_array("weight_flops", [1.0, 2.0], ndim=1, lo=0.0, unit="FLOPs")
    assert not arr.flags.writeable
    with pytest.raises(ValueError, match=r"weight_flops must have shape \(3\); got shape \(2,\)"):
        check_array("weight_flops", [1.0, 2.0], shape=(3,))
    with pytest.raises(
        ValueError, match=r"weight_flops entries must be in \[0, inf\) FLOPs; got -1"
    ):
        check_array("weight_flops", [1.0, -1.0], lo=0.0, unit="FLOPs")
    with pytest.raises(ValueError, match=r"weight_flops must be finite"):
        check_array("weight_flops", [1.0, np.nan])
    with pytest.raises(ValueError, match=r"weight_flops must not be empty"):
        check_array("weight_flops", [])


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10), st.floats(0, 10))
def test_check_real_accepts_exactly_the_interval(value, lo, width):
    hi = lo + width
    inside = not math.isnan(value) and lo <= value <= hi
    if inside:
        assert check_real("x", value, lo, hi) == value
    else:
        with pytest.raises(ValueError, match=r"^x must be in \["):
            check_real("x", value, lo, hi)
