"""The `flowrun` command line (also `kubectl flowrun`)."""
