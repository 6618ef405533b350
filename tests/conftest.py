from hypothesis import HealthCheck, settings

# Deterministic property tests: the same examples on every run and in CI.
settings.register_profile(
    "symasd",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("symasd")

