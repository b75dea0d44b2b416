"""The policy lab's simulator: the live scheduling cycle driven by simulated time."""
