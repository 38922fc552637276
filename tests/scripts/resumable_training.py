"""A training loop that checkpoints every 10 steps and resumes from its checkpoint.

Usage: python resumable_training.py CHECKPOINT STEPS OUT [--resume]
Writes the final parameters to OUT (.npz). Used by tests/test_checkpoint.py,
which kills this process mid-run and restarts it with --resume.
"""
import sys
import time

import numpy as np

import fastnet
from fastnet.optim import Adam


def main(path, steps, out, resume):
    data = np.random.default_rng(0)
    x = data.random((300, 20)).astype(np.float32)
    t = data.integers(0, 5, 300)
    if resume:
        ckpt = fastnet.load_checkpoint(path)
        net, opt = ckpt.net, ckpt.optimizer
        rng = np.random.default_rng()
        rng.bit_generator.state = ckpt.state["rng"]
        start = ckpt.state["step"]
    else:
        net = fastnet.MultiLayerNetExtend(20, [16, 16], 5, use_batchnorm=True, use_dropout=True,
                                          dropout_ration=0.2, seed=1)
        opt, rng, start = Adam(lr=0.01), np.random.default_rng(2), 0
    for step in range(start, steps):
        if step % 10 == 0:
            fastnet.save(path, net, opt, state={"rng": rng.bit_generator.state, "step": step})
            print(f"saved {step}", flush=True)
            time.sleep(0.05)  # room for the test to kill us between checkpoints
        batch = rng.choice(300, 32)
        opt.update(net.params, net.gradient(x[batch], t[batch]))
    np.savez(out, **net.params, **net.buffers)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], "--resume" in sys.argv)
