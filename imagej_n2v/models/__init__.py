"""Model folders and bioimage.io archives: reading, describing, writing, and the network in its precision.

May import: ``data``, ``config``, ``errors``, ``atomic``, ``versions``; never ``training`` or ``denoising``.
"""
