"""The comparison helpers the other tests rely on catch what they must."""

import numpy as np
import pytest
from reference import assert_same_values, ulp_distance


def test_ulp_distance_counts_floats_between():
    one_up = np.nextafter(1.0, 2.0)
    assert ulp_distance(1.0, one_up) == 1
    assert ulp_distance(0.0, -0.0) == 0
    assert ulp_distance(5e-324, -5e-324) == 2
    assert ulp_distance(-2.0, np.nextafter(-2.0, 0.0)) == 1
    # opposite signs, both huge: no wrap-around to a small distance
    assert ulp_distance(1.7e308, -1.7e308) > 2**63


def test_same_values_allows_a_few_ulp_of_finite_difference():
    x = np.array([1.3572088082974532, -2.5, 1e-300, 0.0, -0.0, np.inf, -np.inf, np.nan])
    y = x.copy()
    y[:3] = np.nextafter(np.nextafter(y[:3], np.inf), np.inf)
    assert_same_values(x, y)


@pytest.mark.parametrize("got,want,message", [
    (np.nan, 1.0, "NaN on one side only"),
    (1.0, np.nan, "NaN on one side only"),
    (np.inf, -np.inf, "infinities differ"),
    (np.inf, 1.7976931348623157e308, "infinities differ"),
    (-np.inf, np.nan, "NaN on one side only"),
    (0.0, -0.0, "signs of zero differ"),
    (-0.0, 0.0, "signs of zero differ"),
    (1.0 + 2**-40, 1.0, "ulp apart"),
    (5e-324 * 8, 0.0, "ulp apart"),
])
def test_same_values_catches_wrong_special_values(got, want, message):
    with pytest.raises(AssertionError, match=message):
        assert_same_values(np.array([2.0, got]), np.array([2.0, want]))


def test_same_values_checks_shapes():
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_same_values(np.zeros(3), np.zeros((3, 1)))
