"""synrank: adapt dense retrievers with synthetic data and list-wise training."""

__version__ = "0.1.0"
