"""The worker process of an ImageJ or Fiji started the usual way (not by Python).

The plugin jar starts ``python -m imagej_n2v.imagej.worker`` (the interpreter recorded by
``imagej-n2v install-plugin``) once per ImageJ session and keeps it warm: ``protocol`` is what
they say to each other, ``serve`` runs the commands with the same code as the in-JVM handler.
"""
