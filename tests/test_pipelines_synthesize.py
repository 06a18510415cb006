"""Synthesis pipeline: label checks for anatomy + tumour maps, padding, and seeded dropout as the noise source."""
import numpy as np
import pytest
import torch

from medray.config import InputError
from medray.models.cgan import CGANConfig, build_cgan_generator
from medray.pipelines.synthesize import SynthesizePipeline, check_labels, synthesize_batch
from tests.torch_threads import one_torch_thread  # noqa: F401  (autouse fixture)


def _model(**kw):
    torch.manual_seed(0)
    return build_cgan_generator(CGANConfig(**{"width": 8, "n_downs": 5, "d_width": 8, **kw})).eval()


def _map(h=40, w=36):
    lab = np.zeros((h, w), np.uint8)
    lab[4:-4, 4:-4] = 12
    lab[8:-8, 8:14] = 11
    lab[10:14, 16:22] = 10
    lab[20:26, 18:26] = 4
    return lab


def test_check_labels_accepts_tissue_and_tumour_and_names_valid_ones():
    check_labels(_map())
    with pytest.raises(InputError, match=r"labels \[5\].*\[0, 1, 2, 4, 10, 11, 12\]"):
        check_labels(np.array([[0, 5], [10, 12]], np.uint8))
    with pytest.raises(InputError, match="2-D"):
        check_labels(np.zeros((1, 4, 4), np.uint8))


def test_seeded_dropout_variants_differ_and_repeat():
    g = _model(n_downs=6)  # dropout sits on levels 4..n_downs-2: n_downs 6 has one dropout level
    lab = np.stack([_map(64, 64)] * 2)
    plain_a, plain_b = synthesize_batch(g, lab), synthesize_batch(g, lab)
    assert torch.equal(plain_a, plain_b) and torch.equal(plain_a[0], plain_a[1])  # no seed: deterministic
    s1, s1_again, s2 = synthesize_batch(g, lab, seed=1), synthesize_batch(g, lab, seed=1), synthesize_batch(g, lab, seed=2)
    assert torch.equal(s1, s1_again)  # a seed repeats
    assert not torch.equal(s1[0], s1[1]) and not torch.equal(s1, s2)  # copies in a batch and seeds differ
    assert not any(m.training for m in g.modules())  # dropout switched back off, BatchNorm never on
    state = torch.get_rng_state()
    synthesize_batch(g, lab, seed=3)
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG stream is untouched


def test_pipeline_pads_crops_and_keeps_seeded_maps_independent_of_batch_mates():
    g = _model(n_downs=6)
    p = SynthesizePipeline(g)
    a, b = _map(40, 36), _map(40, 36)
    alone = p.run([a], seeds=[7])[0]
    together = p.run([a, b, a], seeds=[7, 8, None])
    assert alone.shape == (1, 40, 36) and np.array_equal(alone, together[0])
    assert not np.array_equal(together[0], together[1])
    assert np.array_equal(together[2], p.run([a])[0])


def test_tumour_condition_reads_tissue_as_background():
    g = _model(condition="tumour")
    lab = _map(32, 32)
    tumour_only = np.where(np.isin(lab, (1, 2, 4)), lab, 0).astype(np.uint8)
    assert torch.equal(synthesize_batch(g, lab), synthesize_batch(g, tumour_only))
