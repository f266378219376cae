"""What every benchmark here shares: interleaved rounds and medians, so that a busy machine slows every variant alike."""
import statistics
import time


def interleaved(runners, repeats):
    """Time each runner once as warm-up, then ``repeats`` rounds A B C ...; returns the median seconds of each."""
    times = {name: [] for name in runners}
    for round_ in range(repeats + 1):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def blas_line():
    """One line naming the BLAS kernel NumPy runs with and whether OPENBLAS_CORETYPE forces one.

    This machine's environment sets OPENBLAS_CORETYPE=Haswell (and OPENBLAS_L2_SIZE), which makes NumPy's OpenBLAS
    use its Haswell kernels on a CPU that has faster ones; PyTorch's MKL does not read it. Every benchmark prints
    this first so that a table says which kernel it measured. Run with the native kernel:
    ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/<script>.py``.
    """
    import os

    import numpy  # noqa: F401  (threadpoolctl only sees the BLAS of modules already loaded)
    from threadpoolctl import threadpool_info

    libs = [f"{info.get('internal_api')} {info.get('version')} kernel {info.get('architecture')}, "
            f"{info.get('num_threads')} threads" for info in threadpool_info() if info.get("user_api") == "blas"]
    forced = {name: os.environ[name] for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if name in os.environ}
    env = (", ".join(f"{k}={v}" for k, v in forced.items()) + " set (forced kernel)") if forced else \
        "OPENBLAS_CORETYPE unset (native kernel)"
    return f"BLAS: {'; '.join(libs) or 'none found by threadpoolctl'}; {env}"


def print_blas():
    """Print blas_line(), flushed, before any timing."""
    print(blas_line(), flush=True)
