"""The photos that ship with facedge (facedge/data/, public domain; README.md there
says where they come from): real faces for convert's parity check and the photo
`facedge bench` times when given none. Nothing else of the product reads data it
was not given."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
PHOTOS = ("astronaut.jpg", "astronaut-trio.jpg")
BENCH_PHOTO = "astronaut-trio.jpg"  # 4:3 like a camera frame, three faces of different sizes


def sample_photos() -> list:
    """Paths of the shipped photos, in a fixed order."""
    return [DATA_DIR / name for name in PHOTOS]


def bench_photo() -> Path:
    return DATA_DIR / BENCH_PHOTO
