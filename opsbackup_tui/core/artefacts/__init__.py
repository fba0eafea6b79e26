"""The backup tree's artefacts, one module each: its name pattern, reader, writer and publish step.

dumps (with .sha256, .note and the partial file), markers, verifylogs, reports, journal; tree scans
the folders once and hands out the artefacts. Every writer in the product goes through these.
"""
