"""The agent: runs next to an engine, pulls work from the API over HTTP, reports back."""
