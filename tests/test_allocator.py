"""`tune_malloc`: the NMT_MALLOC_THRESHOLD override (0 turns the tuning off; junk is a one-line error)."""

import pytest

from nmt.training.allocator import tune_malloc
from nmt.errors import NMTError


def test_threshold_zero_leaves_glibc_alone(monkeypatch):
    monkeypatch.setenv("NMT_MALLOC_THRESHOLD", "0")
    assert tune_malloc() is False


def test_a_threshold_that_is_not_a_number_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("NMT_MALLOC_THRESHOLD", "lots")
    with pytest.raises(NMTError, match="NMT_MALLOC_THRESHOLD='lots'"):
        tune_malloc()
