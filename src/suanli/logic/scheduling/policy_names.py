"""The names of the registered scheduling policies, without importing any policy (the
command line lists them in its help; `policies/__init__.py` registers exactly these)."""

POLICY_NAMES = (
    "suanli",
    "fifo",
    "sjf",
    "tiresias",
    "themis",
    "gavel_fifo",
    "gavel_fifo_perf",
    "gavel_max_min",
    "gavel_max_min_perf",
    "gavel_max_sum_throughput_perf",
    "sia",
)
"""In the order the registry lists them; 'default' is another name of 'suanli'."""
