"""Scheduling: an immutable snapshot, policies that decide, one cycle that applies.

The same `run_cycle` serves the live service and (later) the simulator; only what sits
behind the ports differs.
"""
