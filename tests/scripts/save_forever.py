"""Save a net again and again, each time with every parameter set to the step number.

Usage: python save_forever.py PATH. Prints "ready" once the first save is done.
tests/test_crash_safety.py SIGKILLs this process at random moments.
"""
import sys

import fastnet


def main(path):
    net = fastnet.MultiLayerNetExtend(50, [200, 200], 10, use_batchnorm=True, use_dropout=True,
                                      seed=0)
    step = 0
    while True:
        step += 1
        for array in (*net.params.values(), *net.buffers.values()):
            array.fill(step)
        fastnet.save(path, net, state={"step": step})
        if step == 1:
            print("ready", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
