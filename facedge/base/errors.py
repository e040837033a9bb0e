"""The one exception type facedge raises for bad input (files, values, options)."""


class FacedgeError(ValueError):
    """Bad input: a model file, an image, an option value. The message names it and
    says what was expected, on one line."""
