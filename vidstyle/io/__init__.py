"""Media in and out: frames and the sources and sinks that carry them (files, image
sequences, streams, cameras, the virtual camera), images, video decoding and encoding,
what names on the command line mean, safe writes.

Imports nothing above :mod:`vidstyle.errors` and :mod:`vidstyle.defaults`.
"""
