"""vmsd: the media-control daemon of an NVR box."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vmsd")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"
