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
