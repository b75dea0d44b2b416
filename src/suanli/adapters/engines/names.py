"""The engines an agent can drive, by name (a module of its own, so that the command
line can list them without importing any engine)."""

ENGINE_NAMES = ("local", "kubernetes", "slurm", "ray")
__all__ = ["ENGINE_NAMES"]
