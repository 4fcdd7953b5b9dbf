"""leafbench: distill, evaluate and benchmark LEAF-style text-embedding students."""

__version__ = "0.1.0"
