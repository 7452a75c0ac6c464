"""Handing a prepared graph to other processes without shipping its bytes.

A :class:`PreparedGraph` of NVIDIA's YOLOv3-608 is ~236 MB: too big to travel as the init
argument of every inference replica.  :func:`share` writes it once into a content-addressed
file (``<sha256>.onnx`` beside the engine cache) and returns a small :class:`GraphRef`;
:meth:`GraphRef.load` reads that file back on the same node, or prepares the graph again
from the user's model where the file is missing (another node) — ``prepare_graph`` is
deterministic, and the digest proves the result is the same graph.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from trt_core.errors import ModelLoadError
from trt_core.graph.prepare import prepare_graph
from trt_core.graph.recipe import GraphRecipe, PreparedGraph
from trt_core.spec import ModelSpec
from trt_core.trt.cache import atomic_write, default_cache_dir


def graph_dir() -> Path:
    return default_cache_dir().parent / "graphs"


@dataclass(frozen=True)
class GraphRef:
    """Where a prepared graph is, and how to make it again: small and picklable."""

    model_path: str  # the user's ONNX
    model_spec: ModelSpec  # its spec, as prepared
    recipe: GraphRecipe  # the recipe as asked for
    applied: GraphRecipe  # the recipe as applied (decode "host" where the model could not decode on device)
    sha256: str  # of the prepared bytes
    spec: ModelSpec  # of the prepared graph's outputs
    path: str  # the shared file (may be absent on another node)

    def load(self) -> PreparedGraph:
        try:
            data = Path(self.path).read_bytes()
        except OSError:
            data = b""
        if hashlib.sha256(data).hexdigest() != self.sha256:
            graph = prepare_graph(Path(self.model_path), self.model_spec, self.recipe)
            if graph.sha256 != self.sha256:
                raise ModelLoadError(
                    f"{self.model_path} prepares to a different graph here than where the app was built",
                    hint="deploy the same model file on every node",
                )
            return graph
        return PreparedGraph(data, self.spec, self.applied)


def share(graph: PreparedGraph, model_path: str | Path, model_spec: ModelSpec, recipe: GraphRecipe) -> GraphRef:
    """Write ``graph`` where this node's processes find it; the reference to hand on."""
    path = graph_dir() / f"{graph.sha256}.onnx"
    try:
        if not path.is_file() or path.stat().st_size != len(graph.model):
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, graph.model)
    except OSError:
        pass  # unwritable cache: every replica prepares the graph itself
    return GraphRef(str(model_path), model_spec, recipe, graph.recipe, graph.sha256, graph.spec, str(path))
