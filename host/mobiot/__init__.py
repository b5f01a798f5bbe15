"""mobiot host tools: flash, provision, collect and virtual boards for mobiot terminals."""

__version__ = "0.1.0"
