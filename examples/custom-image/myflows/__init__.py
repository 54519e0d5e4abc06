"""An example package of flows, shipped in its own image (see ../Dockerfile)."""
