"""The `suanli` command line (Typer + Rich). It talks to the API only through the SDK,
except `up`, which hosts the API itself."""
