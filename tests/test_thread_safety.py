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


def _hammer(calls, threads=4):
    """Run ``calls[i]()`` 100 times in thread i, all at once; the calls' failures."""
    failures = []

    def run(call):
        for _ in range(100):
            if not call():
                failures.append(call)

    workers = [threading.Thread(target=run, args=(call,)) for call in calls[:threads]]
    for th in workers:
        th.start()
    for th in workers:
        th.join(timeout=120)
    assert not any(th.is_alive() for th in workers)
    return failures


def test_one_net_called_from_several_threads_answers_each_right():
    # predict, accuracy, loss and gradient share the net's scratch buffers: without
    # the net's lock, another thread's pass overwrote them mid-call (wrong logits).
    net = fastnet.MultiLayerNetExtend(30, [40, 40], 5, use_batchnorm=True, seed=0)
    rng = np.random.default_rng(0)
    xs = [rng.random((64, 30)).astype(np.float32) for _ in range(4)]
    ts = [rng.integers(0, 5, 64) for _ in range(4)]
    logits = [net.predict(x) for x in xs]
    accuracy = [net.accuracy(x, t) for x, t in zip(xs, ts)]
    loss = [net.loss(x, t) for x, t in zip(xs, ts)]
    calls = [lambda: np.array_equal(net.predict(xs[0]), logits[0]),
             lambda: net.accuracy(xs[1], ts[1]) == accuracy[1],
             lambda: net.loss(xs[2], ts[2]) == loss[2],
             lambda: np.array_equal(net.predict(xs[3]), logits[3])]
    assert _hammer(calls) == []


def test_one_net_batch_called_from_several_threads_answers_each_right():
    batch = fastnet.NetBatch.build(3, lambda i, seed: fastnet.MultiLayerNet(30, [40], 5, seed=seed),
                                   "sgd", seed=0, lr=0.01)
    rng = np.random.default_rng(1)
    xs = [rng.random((64, 30)).astype(np.float32) for _ in range(4)]
    t = rng.integers(0, 5, 64)
    logits = [batch.predict(x) for x in xs]
    accuracy = [batch.accuracy(x, t) for x in xs]
    calls = [lambda: all(map(np.array_equal, batch.predict(xs[0]), logits[0])),
             lambda: np.array_equal(batch.accuracy(xs[1], t), accuracy[1]),
             lambda: np.array_equal(batch[0].predict(xs[2]), logits[2][0]),  # a member alone
             lambda: all(map(np.array_equal, batch.predict(xs[3]), logits[3]))]
    assert _hammer(calls) == []
