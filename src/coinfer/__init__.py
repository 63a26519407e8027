"""coinfer: pruning-aware co-inference of large AI models at the wireless edge.

The package behind the book that reproduces and extends Lyu et al., "The Larger the Merrier? Efficient
Large AI Model Inference in Wireless Edge Networks" (arXiv 2505.09214).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("coinfer")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
