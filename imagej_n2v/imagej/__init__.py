"""The two ways into ImageJ (a JVM that Python starts, and the worker of an ImageJ started as usual) and the plugin installer.

May import: ``training``, ``denoising`` and everything below them; the core never imports this part.
"""
