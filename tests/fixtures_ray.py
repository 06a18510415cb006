"""One local Ray instance for the whole test session, shut down at the end.

It declares 4 logical CPUs on CI's 2 cores: a Train run (2 workers), its Ray Data read tasks and a Tune trial's
own actor must all be schedulable at once, and a placement group that Ray Train fails to release (its cleaner
needs the state API) must not starve every later test. Oversubscribing only makes them slower, never wrong."""
import pytest


@pytest.fixture(scope="session")
def ray_session():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()
