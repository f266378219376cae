"""The array-module switch, and the discipline that keeps math code on the array API."""
import pathlib
import sys
import types

import numpy as np
import pytest

import scratchae
from scratchae import BCE, dense_autoencoder
from scratchae import backend
from scratchae.backend import GPUUnavailableError, cpu_xp, gpu_xp, pick_xp, to_device, to_numpy

PACKAGE = pathlib.Path(scratchae.__file__).parent
def test_modules_stay_small():
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 250, f"{path.name} grew past 250 lines: split it"


def test_round_trip_through_a_device(backend, rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    on_device = to_device(a, backend.xp, backend.device)
    np.testing.assert_array_equal(to_numpy(on_device), a)


def test_strict_device_refuses_host_mixing():
    """The stand-in really is strict: if this passes, the library tests' strict runs mean something."""
    import array_api_strict as xs

    on_device = xs.asarray([1.0, 2.0], device=xs.Device("device1"))
    with pytest.raises(ValueError, match="device"):
        on_device + xs.asarray([1.0, 2.0])
    with pytest.raises(RuntimeError):
        np.asarray(on_device)


def test_gpu_without_cupy_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail, as on a machine without it
    with pytest.raises(GPUUnavailableError, match=r"CuPy.*pip install -e \.\[gpu\].*drop --gpu to run on the CPU"):
        gpu_xp()


@pytest.mark.gpu
def test_cupy_matches_numpy_in_float32():
    try:
        xp = gpu_xp()
    except GPUUnavailableError:
        pytest.skip("gpu backend: CuPy or a CUDA device is missing here")
    x = np.random.default_rng(0).uniform(0, 1, (16, 784)).astype(np.float32)
    cpu, gpu = dense_autoencoder(rng=3), dense_autoencoder(rng=3, xp=xp)
    loss_cpu, loss_gpu = BCE(), BCE()
    a = float(loss_cpu.forward(cpu.forward(x), x))
    b = float(loss_gpu.forward(gpu.forward(to_device(x, xp)), to_device(x, xp)))
    assert a == pytest.approx(b, rel=1e-4)
    cpu.backward(loss_cpu.backward())
    gpu.backward(loss_gpu.backward())
    for (_, _, ga), (_, _, gb) in zip(cpu.named_params(), gpu.named_params()):
        np.testing.assert_allclose(to_numpy(gb), ga, rtol=1e-3, atol=1e-6)


def test_pick_xp_falls_back_to_numpy_and_says_why(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    xp, message = pick_xp()
    assert xp is cpu_xp
    assert message == "using NumPy on the CPU (CuPy is not installed)"


def test_pick_xp_takes_the_gpu_where_gpu_xp_works(monkeypatch):
    fake = object()
    monkeypatch.setattr(backend, "gpu_xp", lambda: fake)
    assert pick_xp() == (fake, "using CuPy on the GPU")


def test_pick_xp_names_a_missing_device(monkeypatch):
    class Runtime:
        @staticmethod
        def getDeviceCount():
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=Runtime))
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    xp, message = pick_xp()
    assert xp is cpu_xp
    assert message.startswith("using NumPy on the CPU (CuPy is installed but finds no usable CUDA device: cudaError")


def fake_cupy_with_a_device(arange):
    """A stand-in ``cupy`` module that sees one CUDA device and whose arange is ``arange``."""
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime), arange=arange)


class FakeDeviceArray:
    """What the fake cupy.arange returns: arithmetic that works, and a read back whose result is ``value``."""

    def __init__(self, value):
        self.value = value

    def __mul__(self, other):
        return self

    def sum(self):
        return self

    def get(self):
        if isinstance(self.value, Exception):
            raise self.value
        return np.asarray(self.value)


@pytest.mark.parametrize("arange, reason", [
    (lambda n: (_ for _ in ()).throw(MemoryError("cudaErrorMemoryAllocation: out of memory")), "out of memory"),
    (lambda n: FakeDeviceArray(RuntimeError("cudaErrorNoKernelImageForDevice")), "cudaErrorNoKernelImageForDevice"),
    (lambda n: FakeDeviceArray(5), "gave 5, not 6"),
], ids=["allocation fails", "kernel fails", "wrong result"])
def test_pick_xp_falls_back_when_the_device_cannot_allocate_or_run(monkeypatch, arange, reason):
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy_with_a_device(arange))
    with pytest.raises(GPUUnavailableError, match="could not allocate or run a kernel"):
        gpu_xp()
    xp, message = pick_xp()
    assert xp is cpu_xp
    assert message.startswith("using NumPy on the CPU (CuPy sees a CUDA device but cannot allocate or run a kernel")
    assert reason in message and "\n" not in message
