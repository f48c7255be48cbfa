"""Denoising with a trained model: the batched, streamed planes and the one denoise command every front door calls.

May import: ``models``, ``data``, ``config`` and the support modules; never ``training`` or a front door.
"""
