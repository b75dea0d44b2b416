"""Engine adapters: the ways an agent runs work (a local process supervisor, batch systems)."""
