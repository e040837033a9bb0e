"""facedge.base: what every layer above shares and nothing else: the error type,
the user's cache paths, atomic file writes, the model-directory contract, progress
on stderr. It imports nothing from the rest of facedge."""
