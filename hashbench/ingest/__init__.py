"""Ingest: datasets that users bring. The released layouts and their protocol split (``layouts``), where
datasets live and their prepared form (``prepared``), the file readers (``matrixfile``, ``textfiles``), a
dataset from one feature file (``single_file``) and image features from pixels (``extract``)."""
