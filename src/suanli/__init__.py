"""suanli (算力): an open platform for a city-scale compute-power network.

Layers, imports flowing one way (see docs/architecture.md):
domain <- logic <- ports <- services <- shells (api, cli, agent); adapters implement ports.
"""

__version__ = "0.1.0"
