"""Names every doctest in the package may use."""

import numpy as np
import pytest

import adkit


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(np=np, adkit=adkit)
