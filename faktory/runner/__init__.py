"""Running things: converted outputs under QEMU, images under the Docker engine, probes against both."""
