import math

from medray.train.early_stop import EarlyStopping


def test_flat_metric_triggers_after_patience():
    es = EarlyStopping(patience=3)
    assert es.update(30.0, 0)
    for e in range(1, 4):
        assert not es.update(30.0, e)
    assert es.should_stop and es.best_epoch == 0


def test_improvement_resets_and_state_round_trips():
    es = EarlyStopping(patience=2, min_delta=0.1)
    es.update(20.0, 0)
    es.update(20.05, 1)  # below min_delta: not an improvement
    assert es.bad_epochs == 1
    assert es.update(21.0, 2) and es.bad_epochs == 0
    back = EarlyStopping.from_state(es.state_dict(), patience=2, min_delta=0.1)
    assert (back.best, back.best_epoch, back.bad_epochs) == (21.0, 2, 0)
    assert not es.update(math.nan, 3)  # NaN never counts as a best
    assert not EarlyStopping(patience=0).should_stop
