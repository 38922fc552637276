"""What recording diagnostics costs in a net T SGD step, in CPU time, for comparing two builds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python bench/diagnostics_overhead.py LABEL

Net T (784-100x4-10 ReLU, batch 100, float32), ``opt.update(net.params,
net.gradient(x, t))`` with SGD: 9 interleaved rounds of 200 steps with
recording off and on, then the time spent inside the recorder's hooks
during 200 more steps; medians per step. Times are the main thread's CPU
time (``time.thread_time``), so other processes on a shared machine do not
count; run it with one BLAS thread, whose CPU time is the whole step's. Run
it alternately with another build first on PYTHONPATH to compare builds.
"""
import sys
import time

import numpy as np

import fastnet
from fastnet.optim import make_optimizer


def main(label, rounds=9, reps=200):
    rng = np.random.default_rng(0)
    x = rng.random((100, 784)).astype(np.float32)
    t = rng.integers(0, 10, 100)
    nets = {k: fastnet.MultiLayerNetExtend(784, [100] * 4, 10, seed=0) for k in ("off", "on")}
    nets["on"].record_stats()
    opts = {k: make_optimizer("sgd", lr=0.01) for k in nets}
    recorder = nets["on"]._recorder
    forward, backward = recorder.forward, recorder.backward
    inside = [0.0]

    def timed(hook):
        def call(i, a):
            start = time.thread_time()
            hook(i, a)
            inside[0] += time.thread_time() - start
        return call

    for k, net in nets.items():
        for _ in range(5):
            opts[k].update(net.params, net.gradient(x, t))
    times = {k: [] for k in nets}
    hooks = []
    for r in range(rounds):
        for k in (("off", "on") if r % 2 == 0 else ("on", "off")):
            net, opt = nets[k], opts[k]
            start = time.thread_time()
            for _ in range(reps):
                opt.update(net.params, net.gradient(x, t))
            times[k].append((time.thread_time() - start) / reps)
        # The hooks are timed in rounds of their own: the timers would add to the loop above.
        recorder.forward, recorder.backward = timed(forward), timed(backward)
        inside[0] = 0.0
        for _ in range(reps):
            opts["on"].update(nets["on"].params, nets["on"].gradient(x, t))
        hooks.append(inside[0] / reps)
        recorder.forward, recorder.backward = forward, backward
    off, on, hook = np.median(times["off"]), np.median(times["on"]), np.median(hooks)
    print(f"{label}: step {off * 1e6:.0f} us off, {on * 1e6:.0f} us on: recording "
          f"{(on - off) * 1e6:+.0f} us ({(on / off - 1) * 100:+.0f}%); inside the hooks "
          f"{hook * 1e6:.1f} us per step")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "this build")
