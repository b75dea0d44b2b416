"""The web dashboard's bundled page and assets (static/), served by api/dashboard.py."""
