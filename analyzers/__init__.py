"""Analysis: from an Image to a Closure (one networkx graph of everything the entrypoint needs)."""
