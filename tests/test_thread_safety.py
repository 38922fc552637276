"""Two threads training their own nets at once get exactly what each gets alone."""
import threading

import numpy as np

import fastnet
from fastnet.optim import Adam


def _train(seed, steps=60):
    net = fastnet.MultiLayerNetExtend(30, [40, 40], 5, use_batchnorm=True, use_dropout=True,
                                      dropout_ration=0.2, seed=seed)
    opt = Adam(lr=0.01)
    rng = np.random.default_rng(seed)
    x = rng.random((200, 30)).astype(np.float32)
    t = rng.integers(0, 5, 200)
    for _ in range(steps):
        batch = rng.choice(200, 32)
        opt.update(net.params, net.gradient(x[batch], t[batch]))
    return {**net.params, **net.buffers}


def test_concurrent_training_equals_training_alone():
    alone = {seed: _train(seed) for seed in (1, 2)}
    together = {}
    threads = [threading.Thread(target=lambda s=s: together.__setitem__(s, _train(s)))
               for s in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert sorted(together) == [1, 2]
    for seed in (1, 2):
        for key, value in alone[seed].items():
            np.testing.assert_array_equal(together[seed][key], value, err_msg=f"{seed} {key}")
