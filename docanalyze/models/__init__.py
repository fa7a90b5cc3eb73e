"""The model seam: a small protocol, the features a backend declares, the registry that makes
the backends, and the backends themselves."""

from docanalyze.models.base import Model, ModelReply, ModelRequest, Stage, Usage

__all__ = ["Model", "ModelReply", "ModelRequest", "Stage", "Usage"]
