"""Pictures of computation graphs: `draw_graph(loss)` returns a graphviz Digraph, `render` writes a file.

    from tinygrad_mnist.viz import backward_for_drawing, draw_graph, render
    loss = model(x).cross_entropy(y)
    backward_for_drawing(loss)               # keeps the graph and every intermediate gradient
    render(draw_graph(loss, module=model), "loss.svg")
    trace = trace_backward(loss)             # or: record backward node by node (viz/trace.py)
    write_backprop_page(loss, "backprop.html")   # a page that steps through it (viz/stepper.py)

See docs/visualisation.md for the colour/shape convention and the options.
"""

from tinygrad_mnist.viz.grads import backward_for_drawing, retain_all_grads
from tinygrad_mnist.viz.graph import GraphReleasedError, draw_graph
from tinygrad_mnist.viz.grouping import group_by_module
from tinygrad_mnist.viz.render import GraphvizError, GraphvizNotFoundError, render
from tinygrad_mnist.viz.stepper import Annotation, write_backprop_page
from tinygrad_mnist.viz.trace import BackwardTrace, Step, trace_backward

__all__ = [
    "Annotation",
    "BackwardTrace",
    "GraphReleasedError",
    "GraphvizError",
    "GraphvizNotFoundError",
    "backward_for_drawing",
    "draw_graph",
    "group_by_module",
    "render",
    "retain_all_grads",
    "Step",
    "trace_backward",
    "write_backprop_page",
]
