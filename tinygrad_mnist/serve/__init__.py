"""`tinygrad-mnist serve`: a local page to draw a digit and see inside the network that reads it.

The page (static/: plain HTML, JS and CSS, no build step, nothing fetched from elsewhere) posts each
stroke to the JSON API (api.py), which preprocesses it like `predict`, runs the model, and returns the
probabilities, the image as the model sees it, the hidden activations and a saliency map: the gradient
of the predicted class's score with respect to the input pixels, by our own `backward()` (explain.py).
See docs/page.md.
"""

from tinygrad_mnist.serve.api import ApiError, Models
from tinygrad_mnist.serve.server import make_server

__all__ = ["ApiError", "Models", "make_server"]
