"""The model seam: a small protocol, and the backends that implement it."""

from docanalyze.models.base import Model, ModelReply, ModelRequest, Stage, Usage

__all__ = ["Model", "ModelReply", "ModelRequest", "Stage", "Usage"]
