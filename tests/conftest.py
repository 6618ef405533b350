from hypothesis import HealthCheck, settings

# Imported here first, so that where the compiled kernels are missing (pytest run in
# an unbuilt source tree) the run stops once with KernelsMissingError, which says
# what to do, rather than once per test file.
import symasd  # noqa: F401

# Deterministic property tests: the same examples on every run and in CI.
settings.register_profile(
    "symasd",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("symasd")

