"""Example flows: the seed scenarios of docs/design.md, each runnable with the manifest
of the same name in examples/manifests/ (they ship in the runner image)."""
