"""archdsl: a declarative language for neural-network architectures, and its compiler."""

__version__ = "0.1.0"
