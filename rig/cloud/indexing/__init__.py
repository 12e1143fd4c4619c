"""Fleet indexing (the `AWS_Things` index, search-index) and dynamic thing groups.

query.py is the pure engine (the query language); documents.py builds the documents of things
from the registry, the shadows and presence; store.py keeps the indexing configuration;
dynamic.py keeps dynamic groups' members in step; api.py is the control plane.
"""
