"""The policy lab: trace-driven simulations of the live scheduler (a shell: it composes
the trace adapters with `logic/simulation`; see docs/simulator.md)."""
