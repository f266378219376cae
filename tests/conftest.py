"""Shared fixtures: every library test body runs once per backend (NumPy, array_api_strict on a second device,
and CuPy where a CUDA device exists), as Chainer's backend-parameterised tests do."""
from dataclasses import dataclass

import numpy as np
import pytest

from scratchae.backend import GPUUnavailableError, cpu_xp, gpu_xp, to_device, to_numpy


@dataclass
class Backend:
    """An array namespace and a device: what the tests hand to layers and use to make arrays."""

    name: str
    xp: object
    device: object

    def asarray(self, host, dtype="float64"):
        """A host NumPy array (or nested list) moved onto this backend, cast to ``dtype``."""
        return to_device(np.asarray(host), self.xp, self.device, dtype)

    def kw(self, dtype="float64"):
        """Constructor keywords placing a layer or model on this backend."""
        return {"xp": self.xp, "device": self.device, "dtype": dtype}


def _strict():
    import array_api_strict

    # Hold the library to the standard version the issue names; the strict device refuses host transfers.
    array_api_strict.set_array_api_strict_flags(api_version="2024.12")
    return Backend("strict", array_api_strict, array_api_strict.Device("device1"))


def _cupy():
    try:
        xp = gpu_xp()
    except GPUUnavailableError as err:
        reason = "CuPy is not installed" if "not installed" in str(err) else "no usable CUDA device"
        pytest.skip(f"gpu backend: {reason} here")
    return Backend("cupy", xp, None)


@pytest.fixture(params=["numpy", "strict", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request):
    if request.param == "numpy":
        return Backend("numpy", cpu_xp, None)
    return _strict() if request.param == "strict" else _cupy()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def host(a):
    """Any backend's array as NumPy, for assertions."""
    return to_numpy(a)


_WORST = {}  # check name -> worst relative error seen in this session, shown at the end of the run


@pytest.fixture
def record_gradcheck(request):
    """Record a gradient-check report's worst relative error under the test's name (and print it)."""
    def record(report):
        from scratchae.gradcheck import worst

        error = worst(report)
        key = request.node.name
        _WORST[key] = max(error, _WORST.get(key, 0.0))
        print(f"{key}: worst relative error {error:.2e}")
        return report
    return record


def pytest_sessionfinish(session):
    # Under pytest-xdist each worker sends its worst errors back to the controller, which prints the table.
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["gradcheck_worst"] = dict(_WORST)


def pytest_testnodedown(node, error):
    for key, value in getattr(node, "workeroutput", {}).get("gradcheck_worst", {}).items():
        _WORST[key] = max(value, _WORST.get(key, 0.0))


def pytest_terminal_summary(terminalreporter):
    if _WORST:
        terminalreporter.section("gradient checks: worst relative error per test (bar: 1e-7)")
        for name, error in sorted(_WORST.items()):
            terminalreporter.write_line(f"{error:9.2e}  {name}")
