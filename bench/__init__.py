"""facedge.bench"""
