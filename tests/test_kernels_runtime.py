"""adkit.kernels.runtime: discovery, the Device (program cache, transfers, contexts),
device selection, the `adkit devices` command and the three OpenCL examples.

Everything skips, with the reason OpenCL is unavailable, where there is no
OpenCL; the test that simulates a missing pyopencl runs everywhere."""

import re
import sys

import numpy as np
import pytest

from opencl_support import needs_opencl

from examples_support import load_example

from adkit import kernels
from adkit.__main__ import main as cli
from adkit.kernels import KernelBuildError, OpenCLUnavailable



@pytest.fixture
def fresh():
    """Forget cached Devices before and after, for tests that change how one is chosen."""
    kernels.clear_cache()
    yield
    kernels.clear_cache()




# --- without pyopencl -----------------------------------------------------------------------

def test_without_pyopencl_available_is_false_and_errors_say_how_to_fix(monkeypatch, fresh, capsys):
    monkeypatch.setitem(sys.modules, "pyopencl", None)   # `import pyopencl` now fails
    assert kernels.available() is False
    for call in (kernels.devices, kernels.device):
        with pytest.raises(OpenCLUnavailable, match=r"pyopencl cannot be imported") as info:
            call()
        assert 'pip install "pyopencl[pocl]"' in str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert cli(["devices"]) == 1
    assert "pyopencl[pocl]" in capsys.readouterr().err


@needs_opencl
def test_no_platform_is_unavailable_too(monkeypatch, fresh):
    import pyopencl
    monkeypatch.setattr(pyopencl, "get_platforms", lambda: [])
    assert kernels.available() is False
    with pytest.raises(OpenCLUnavailable, match="no OpenCL device found"):
        kernels.device()


# --- discovery ------------------------------------------------------------------------------

@needs_opencl
def test_devices_fields_are_sane():
    infos = kernels.devices()
    assert infos and kernels.available()
    for i, info in enumerate(infos):
        assert info.index == i
        assert info.name and info.platform_name and info.version.startswith("OpenCL")
        assert set(info.type.split("|")) <= {"CPU", "GPU", "ACCELERATOR", "CUSTOM"}
        assert info.compute_units >= 1 and info.max_clock_mhz >= 0
        assert 0 < info.local_memory <= info.global_memory
        assert 0 < info.constant_memory <= info.global_memory
        assert 0 < info.max_allocation <= info.global_memory
        assert info.max_work_group_size >= 1 and len(info.max_work_item_sizes) >= 1
        assert info.local_mem_size == info.local_memory   # pyopencl-named alias


@needs_opencl
def test_cli_devices_lists_name_and_compute_units(capsys):
    assert cli(["devices"]) == 0
    out = capsys.readouterr().out
    for info in kernels.devices():
        assert info.name in out
    assert "compute units" in out and "local memory" in out and "global memory" in out


# --- one device -----------------------------------------------------------------------------

GOOD = "__kernel void twice(__global float *x) { x[get_global_id(0)] *= 2.0f; }"


@needs_opencl
def test_program_cache_returns_the_same_program():
    dev = kernels.device()
    assert dev.program(GOOD) is dev.program(GOOD)
    assert dev.program(GOOD, ("-D UNUSED=1",)) is not dev.program(GOOD)
    assert dev.program(GOOD, ("-D UNUSED=1",)) is dev.program(GOOD, ("-D UNUSED=1",))
    with pytest.raises(FileNotFoundError, match="no_such_kernel.cl"):
        dev.program("no_such_kernel.cl")


@needs_opencl
def test_build_error_carries_the_build_log():
    dev = kernels.device()
    broken = "__kernel void f(__global float *x) { x[0] = 1.0f oops; }"
    with pytest.raises(KernelBuildError) as info:
        dev.program(broken, ("-D MARK=7",))
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "<source string>" in message and "-D MARK=7" in message and dev.info.name in message
    # the compiler's own diagnostic, not just "build failed"
    assert "error" in message.lower() and ("expected" in message or "oops" in message)


@needs_opencl
def test_round_trip_counts_bytes_exactly():
    dev = kernels.device()
    dev.reset_counters()
    host = np.arange(12, dtype=np.float32).reshape(3, 4)
    x = dev.to_device(host)
    back = dev.to_host(x)
    np.testing.assert_array_equal(back, host)
    assert (dev.bytes_to_device, dev.bytes_from_device, dev.transfers) == (48, 48, 2)
    dev.to_device(np.ones(5, np.float64)[::2])   # non-contiguous: 3 float64 go over
    assert dev.bytes_to_device == 48 + 24 and dev.transfers == 3
    dev.reset_counters()
    assert (dev.bytes_to_device, dev.bytes_from_device, dev.transfers) == (0, 0, 0)
    assert dev.to_host(dev.zeros((2, 3))).tolist() == [[0.0] * 3] * 2
    assert dev.empty((4,), np.int32).dtype == np.int32 and dev.transfers == 1


@needs_opencl
def test_kernel_runs_on_device_arrays():
    dev = kernels.device()
    x = dev.to_device(np.arange(8, dtype=np.float32))
    dev.program(GOOD).twice(dev.queue, *dev.launch_size(8), x.data)
    dev.finish()
    np.testing.assert_array_equal(dev.to_host(x), 2 * np.arange(8, dtype=np.float32))


@needs_opencl
def test_arrays_of_another_context_are_refused():
    dev = kernels.device()
    other = kernels.Device(dev.cl_device, dev.info)    # same hardware, second context
    foreign = other.to_device(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="another OpenCL context") as info:
        dev.to_host(foreign)
    assert str(info.value).count(dev.info.name) >= 2    # names both devices
    with pytest.raises(TypeError, match="to_device"):
        dev.check(np.ones(3))
    dev.check(dev.to_device(np.ones(3, np.float32)))


@needs_opencl
def test_launch_size_picks_and_validates():
    dev = kernels.device()
    most = dev.info.max_work_group_size
    for g in [(500, 500), (5_000_000,), (7,), (64, 64, 64), (499, 500)]:
        gsize, lsize = dev.launch_size(g)
        assert gsize == g and np.prod(lsize) <= most
        assert all(a % b == 0 for a, b in zip(gsize, lsize))
    assert dev.launch_size(16, 8) == ((16,), (8,))
    with pytest.raises(ValueError, match="not a multiple"):
        dev.launch_size((10,), (4,))
    with pytest.raises(ValueError, match="allows at most"):
        dev.launch_size((most * 2,), (most * 2,))
    with pytest.raises(ValueError, match="local memory"):
        dev.launch_size((16,), None, local_mem=dev.info.local_memory + 1)


# --- choosing a device ----------------------------------------------------------------------

@needs_opencl
def test_device_choice_from_argument_and_environment(monkeypatch, fresh):
    monkeypatch.delenv("ADKIT_DEVICE", raising=False)
    monkeypatch.delenv("PYOPENCL_CTX", raising=False)
    infos = kernels.devices()
    first = infos[0]
    default = kernels.device()
    gpus = [i for i in infos if "GPU" in i.type]
    assert default.info.spec == (gpus[0] if gpus else first).spec
    assert kernels.device() is default                       # cached
    assert kernels.device(first.spec) is kernels.device(0)   # one Device per hardware device

    for value in ("opencl:0", first.spec, first.name[:6].lower(), "opencl:" + first.name[:6]):
        monkeypatch.setenv("ADKIT_DEVICE", value)
        kernels.clear_cache()
        assert kernels.device().info.name == (infos[0].name if value != first.spec
                                              else first.name), value
    monkeypatch.setenv("ADKIT_DEVICE", "opencl")
    kernels.clear_cache()
    assert kernels.device().info.spec == default.info.spec

    for bad in ("opencl:99", "opencl:99:0", "no-such-device-xyz"):
        monkeypatch.setenv("ADKIT_DEVICE", bad)
        kernels.clear_cache()
        with pytest.raises(ValueError, match="ADKIT_DEVICE") as info:
            kernels.device()
        assert first.name in str(info.value)                 # lists the devices
    with pytest.raises(ValueError, match=re.escape(first.name)):
        kernels.device(99)

    monkeypatch.delenv("ADKIT_DEVICE")
    monkeypatch.setenv("PYOPENCL_CTX", f"{first.platform_index}:{first.device_index}")
    kernels.clear_cache()
    assert kernels.device().info.spec == first.spec
    monkeypatch.setenv("PYOPENCL_CTX", "7:7")
    kernels.clear_cache()
    with pytest.raises(ValueError, match="PYOPENCL_CTX"):
        kernels.device()


# --- examples -------------------------------------------------------------------------------

@needs_opencl
def test_example_devices(capsys):
    infos = load_example("opencl_devices").main([])
    out = capsys.readouterr().out
    assert infos and infos[0].name in out and "compute units" in out


@needs_opencl
def test_example_vector_add_agrees_with_numpy(capsys):
    result = load_example("opencl_vector_add").main(["--small"])
    out = capsys.readouterr().out
    assert result["agree"] is True and result["max_abs_diff"] == 0.0
    assert "agrees with NumPy: True" in out
    for label in ("host -> device", "kernel", "device -> host"):
        assert re.search(rf"{label}\s+\d+\.\d+ ms", out), label


@needs_opencl
def test_example_matmul_agrees_with_numpy_not_its_transpose(capsys):
    result = load_example("opencl_matmul").main(["--small"])
    out = capsys.readouterr().out
    assert result["agree"] is True and result["rel_err"] < 1e-5
    assert "naive agrees with NumPy A @ B: True" in out
    if "tiled_s" in result:   # adkit.kernels.gemm's correctness is its own tests' business
        assert re.search(r"tiled agrees with NumPy A @ B: (True|False)", out)
