"""refcamp: a Talon.One-style promotion engine that runs on your own machine."""

__version__ = "0.2.0"
