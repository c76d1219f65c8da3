"""Texts shipped with numpylstm; ``numpylstm.data.load_text(name)`` reads ``<name>.txt`` from here.

A package of its own (rather than a plain folder) so that setuptools installs
it as a package with its data files. Its name differs from ``numpylstm.data``,
the module that reads it: a folder and a module of one name would shadow each
other.
"""
