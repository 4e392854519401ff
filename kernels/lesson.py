"""The lesson path of every op, under the public names: ``kernels.lesson.temporal_attention``,
``.spatial_attention``, ``.neighbourhood_attention``, ``.conv3d`` (and ``takes_attention``,
``takes_neighbourhood``, ``takes_conv3d``), so that code
written for ``kernels`` runs the readable kernels instead (``VDLITE_BACKEND=triton-lesson``)."""

from kernels import takes_attention, takes_conv3d, takes_neighbourhood
from kernels.conv.lesson import conv3d
from kernels.neighbourhood.lesson import neighbourhood_attention
from kernels.spatial.lesson import spatial_attention
from kernels.temporal.lesson import temporal_attention

__all__ = ["conv3d", "neighbourhood_attention", "spatial_attention", "takes_attention",
           "takes_conv3d", "takes_neighbourhood", "temporal_attention"]
