"""Patrol tracks: parse uploads, clean GPS noise, map-match to the walkable network.

Pure functions over bytes, DataFrames and arrays; storage lives elsewhere (the lead's DB layer).
"""
