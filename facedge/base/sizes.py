"""Image and network sizes written as "WIDTHxHEIGHT" (640x480), the one parser every
command uses."""

from facedge.base.errors import FacedgeError


def parse_size(text, what="size") -> tuple:
    """"640x480" -> (640, 480); anything else is a FacedgeError naming `what` (the
    option) and the text."""
    w, sep, h = str(text).strip().lower().partition("x")
    if sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0:
        return int(w), int(h)
    raise FacedgeError(f"{what} {text}: expected WIDTHxHEIGHT in pixels, e.g. 640x480")
