"""Fixtures of the quantization tests: the tiny model's params and its calibration set."""

from __future__ import annotations

import pytest

from lib import params
from lib.compress import calibration


@pytest.fixture(scope="module")
def P():
    return params.load("tiny")


@pytest.fixture(scope="module")
def cal(P):
    return calibration.prepare_calibration(P)
