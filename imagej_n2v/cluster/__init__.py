"""Denoising on a Dask cluster: local processes, a lab's machines, or SLURM and other batch systems.

May import: ``denoising`` and everything below it; the core never imports this part.
"""
