"""Training an N2V model: patches, the fit, when to stop, the history and resuming.

May import: ``models``, ``data``, ``config`` and the support modules; never ``denoising`` or a front door.
"""
