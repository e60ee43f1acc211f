"""Image sources: one module per kind of reference, all returning faktory.image.Image."""
