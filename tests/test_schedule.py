import math

import pytest

from neuro_codec.training import TrainConfig
from neuro_codec.training.schedule import learning_rate


def test_warm_up_then_each_decay_reaches_the_final_fraction():
    lr = 1e-3
    # warm-up: lr/4, lr/2, 3lr/4, lr over 4 steps, whatever the schedule
    for schedule in ("constant", "cosine", "exponential"):
        assert [learning_rate(s, 12, lr, schedule, 4, 0.1) for s in range(4)] == [
            lr / 4, lr / 2, 3 * lr / 4, lr]
    assert [learning_rate(s, 12, lr, "constant", 4, 0.1) for s in (4, 11, 12)] == [lr] * 3
    # p = (step − 4)/8: cosine 0.1 + 0.9·(1 + cos πp)/2, exponential 0.1^p
    assert learning_rate(8, 12, lr, "cosine", 4, 0.1) == pytest.approx(lr * 0.55, rel=1e-12)
    assert learning_rate(8, 12, lr, "exponential", 4, 0.1) == pytest.approx(
        lr * math.sqrt(0.1), rel=1e-12)
    for schedule in ("cosine", "exponential"):
        assert learning_rate(12, 12, lr, schedule, 4, 0.1) == pytest.approx(lr * 0.1)
        assert learning_rate(50, 12, lr, schedule, 4, 0.1) == pytest.approx(lr * 0.1)
        assert learning_rate(4, 12, lr, schedule, 4, 0.1) == lr
    with pytest.raises(ValueError):
        learning_rate(0, 12, lr, "linear")


def test_train_config_defaults_keep_the_constant_rate():
    cfg = TrainConfig(steps=100)
    assert [cfg.lr_at(s) for s in (0, 50, 99)] == [cfg.lr] * 3
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="final_lr_fraction"):
        TrainConfig(final_lr_fraction=0.0)
