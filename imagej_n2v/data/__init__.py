"""Arrays and axes, planes and their normalisation, output types, TIFF files and synthetic stacks; no TensorFlow.

May import: ``config``, ``errors``, ``atomic``. Everything that handles pixels builds on this part.
"""
