"""Fixture for tests that run small torch models: import it into a test module to use it.

On the shared 2-core CI box several test processes compete for the CPUs; torch's default intra-op
thread pool then spends most of its time spin-waiting (measured ≈15× more CPU for the overfit tests).
Tiny models run fastest on one thread.
"""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
